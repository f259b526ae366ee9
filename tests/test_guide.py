"""The README is a front page and the guide (MkDocs + Material, docs/) holds the rest (#31).

The guide builds with ``mkdocs build --strict`` (a broken link, a missing anchor or a page left out of the
nav fails it); the README stays a front page: at most 300 lines, the two commands, the PATH, the
walkthrough, the commands and where to read on, every link of it to a page that exists.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import GUIDE, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_guide_builds_without_a_warning(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    for page in ("input-files", "running", "nightly-sync", "page", "sign-in-and-approvals", "audit", "api-facts",
                 "performance", "development", "languages", "account", "DESIGN"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page


def _nav_pages(nav) -> list[str]:
    out = []
    for entry in nav:
        for value in entry.values():
            out += _nav_pages(value) if isinstance(value, list) else [value]
    return out


def test_every_page_of_the_guide_is_in_its_nav():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    assert config["theme"]["name"] == "material"
    assert sorted(_nav_pages(config["nav"])) == sorted(p.name for p in GUIDE.glob("*.md"))


def test_the_readme_is_a_front_page():
    lines = README.splitlines()
    assert len(lines) <= 300, len(lines)
    sections = [line for line in lines if line.startswith("## ")]
    for wanted in ("## Quick start", "## Walkthrough", "## Commands", "## Where to read on"):
        assert any(s.startswith(wanted) for s in sections), (wanted, sections)
    assert "make demo" in README and "make test" in README and "source .venv/bin/activate" in README


def test_every_link_of_the_readme_reaches_a_page_of_the_guide():
    links = re.findall(r"\]\(([^)#\s]+)(?:#([^)\s]+))?\)", README)
    assert len(links) >= 12
    for target, anchor in links:
        if "://" in target:
            continue
        path = ROOT / target
        assert path.is_file(), target
        if anchor:  # the heading a link points at is there (MkDocs' anchors: the toc's slugs)
            from markdown.extensions.toc import slugify

            slugs = {slugify(h.lstrip("#").strip().replace("`", ""), "-")
                     for h in path.read_text(encoding="utf-8").splitlines() if h.startswith("#")}
            assert anchor in slugs, (target, anchor)


def test_every_page_of_the_guide_is_reached_from_the_readme():
    for page in GUIDE.glob("*.md"):
        if page.name != "index.md":
            assert f"(docs/{page.name}" in README, page.name


def test_the_guide_shows_the_screenshots_it_has():
    """Every picture a page shows is in docs/, and every picture in docs/ is shown somewhere."""
    shown = set()
    for page in GUIDE.glob("*.md"):
        for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            assert (GUIDE / image).is_file(), (page.name, image)
            shown.add(Path(image).name)
    assert shown == {p.name for p in GUIDE.rglob("*.png")}, shown


def test_one_script_makes_every_screenshot_the_guide_shows(tmp_path, chromium_path, cjk_fonts):
    """docs/screenshots.py (``make screenshots``) drives the page in chromium in English, Korean and Japanese
    and writes exactly the pictures the guide's pages show -- none missing, none left over."""
    proc = subprocess.run([sys.executable, str(GUIDE / "screenshots.py"), "--out", str(tmp_path / "shots")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    made = {Path(line).name for line in proc.stdout.splitlines()}
    shown = {Path(image).name for page in GUIDE.glob("*.md")
             for image in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", page.read_text(encoding="utf-8"))}
    assert made == shown == {p.name for p in (tmp_path / "shots").iterdir()}, (made, shown)
    for name in made:
        assert (tmp_path / "shots" / name).stat().st_size > 10_000, name

"""The vendor's sample requests and replies (tests/fixtures/kore-docs/), and the few edits that turn page
text into HTTP.

The files are kept verbatim; these are the only liberties taken with them, each a typo of the page:

* a reply printed with a trailing ``;`` (JavaScript punctuation) is sent without it;
* ``"deleteEmailIds"/"orgUserIds": [...]`` (either key) is expanded into one body per key;
* ``// or "orgUserId": <orgUserId>`` (a comment inside JSON) is dropped;
* a curl URL with a stray closing quote (``alluserroles?limit=2'``) is read without it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kore-docs"

_ALTERNATIVES = re.compile(r'"(\w+)"/"(\w+)"')
_COMMENT = re.compile(r"\s*//[^,\n]*")
_HEADER = re.compile(r"-H '([^:']+):\s*([^']*)'")


@dataclass(frozen=True)
class Sample:
    file: str
    call: str
    kind: str
    case: str
    source: str
    language: str

    @property
    def text(self) -> str:
        return (FIXTURES / self.file).read_text(encoding="utf-8")

    @property
    def id(self) -> str:
        return self.file.removesuffix(".txt")


@dataclass
class DocRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    bodies: list[dict] = field(default_factory=list)


def samples(call: str | None = None, kind: str | None = None, case: str | None = None) -> list[Sample]:
    entries = json.loads((FIXTURES / "MANIFEST.json").read_text(encoding="utf-8"))
    out = [Sample(**e) for e in entries]
    return [s for s in out if (call is None or s.call == call) and (kind is None or s.kind == kind)
            and (case is None or s.case == case)]


def reply_text(sample: Sample) -> str:
    """The reply body as the server would send it: the sample without the page's trailing ``;``."""
    return sample.text.strip().removesuffix(";").strip()


def reply_json(sample: Sample):
    return json.loads(reply_text(sample))


def request(sample: Sample) -> DocRequest:
    """Method, path, query, headers and every body the curl line allows."""
    text = sample.text.replace("\\\n", " ").replace("\\ ", " ")
    method = re.search(r"-X\s+(\w+)", text).group(1)
    url = re.search(r"https://\{\{host\}\}[^\s']*", text).group(0)
    parts = urlsplit(url.replace("{{host}}", "host"))
    headers = {k.strip(): v.strip() for k, v in _HEADER.findall(text)}
    data = re.search(r"-d\s+'(.*)'", text, re.S)
    bodies: list[dict] = []
    if data:
        raw = _COMMENT.sub("", data.group(1))
        keys = _ALTERNATIVES.search(raw)
        variants = [_ALTERNATIVES.sub(f'"{k}"', raw) for k in keys.groups()] if keys else [raw]
        bodies = [json.loads(v) for v in variants]
    return DocRequest(method, parts.path, dict(parse_qsl(parts.query)), headers, bodies)

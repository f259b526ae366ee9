"""Generated parts of the guide: the column table, the error-code tables, the API facts, the odd replies.

``python -m bulkprov._docs`` rewrites the blocks between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``
markers in README.md and every page of docs/ (or in the files named); tests/test_template_docs.py fails when
one drifts, and when a block is missing from the guide.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from bulkprov import errors, schema
from bulkprov.kore import facts


def _codes_table(codes: dict[str, str]) -> str:
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| `{code}` | {meaning} |" for code, meaning in codes.items()]
    return "\n".join(rows)


def _odd_replies() -> str:
    from bulkprov.emulator.odd import ODD_REPLIES

    rows = ["| switch | the emulator then |", "|---|---|"]
    rows += [f"| `{name}` | {what} |" for name, what in ODD_REPLIES.items()]
    return "\n".join(rows)


def blocks() -> dict[str, str]:
    return {
        "columns": schema.markdown_table(),
        "list-cells": schema.list_cells_markdown(),
        "row-codes": _codes_table({c: p.description for c, p in errors.ROW_CODES.items()}),
        "file-codes": _codes_table(errors.file_codes()),
        "run-codes": _codes_table(errors.run_codes()),
        "outcome-codes": _codes_table({c: p.description for c, p in errors.OUTCOME_CODES.items()}),
        "api-facts": facts.markdown_table(),
        "write-replies": facts.write_replies_table(),
        "odd-replies": _odd_replies(),
    }


def render(text: str) -> str:
    for name, body in blocks().items():
        pattern = re.compile(rf"(<!-- {name}:start[^>]*-->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.S)
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def pages(root: Path = Path(".")) -> list[Path]:
    """The files whose generated blocks are kept current: the README and the guide's pages."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def main() -> int:
    for path in [Path(a) for a in sys.argv[1:]] or pages():
        text = path.read_text(encoding="utf-8")
        if render(text) != text:
            path.write_text(render(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

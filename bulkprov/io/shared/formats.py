"""Number formats: a cell's value rendered as Excel or LibreOffice displays it.

calamine returns values, not formats, so each reader recovers the format code of the cells that
have one (xlsx: ``styles.xml``; xls: the FORMAT/XF records; ods: number styles, converted to an
Excel format code) and :func:`compile_format` turns the code into a renderer.  Covered: zero
padding and literals (``00000``, ``000-00-0000``), decimals and thousands separators (``0.00``,
``#,##0``), percentages, dates and times (``dd/mm/yyyy``, ``mmm d, yyyy``, ``h:mm AM/PM``,
``[h]:mm``), text (``@``), sections (positive;negative;zero;text), colours and locale tags (ignored).
Scientific notation and fractions are rendered as General instead (a phone number never becomes
``8.21E+09``); a renderer returns None when it does not apply, and the value keeps its General text.
Dates whose built-in format depends on the reader's locale (Excel's 14 and 22) are shown ISO-style.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

Renderer = Callable[[object], "str | None"]

# Excel's built-in number formats (ids without a numFmt element in styles.xml / FORMAT record).
BUILTIN = {
    0: "General", 1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 9: "0%", 10: "0.00%", 11: "0.00E+00",
    12: "# ?/?", 13: "# ??/??", 14: "yyyy-mm-dd", 15: "d-mmm-yy", 16: "d-mmm", 17: "mmm-yy",
    18: "h:mm AM/PM", 19: "h:mm:ss AM/PM", 20: "h:mm", 21: "h:mm:ss", 22: "yyyy-mm-dd h:mm",
    37: "#,##0 ;(#,##0)", 38: "#,##0 ;(#,##0)", 39: "#,##0.00;(#,##0.00)", 40: "#,##0.00;(#,##0.00)",
    45: "mm:ss", 46: "[h]:mm:ss", 47: "mm:ss.0", 48: "##0.0E+0", 49: "@",
}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
EPOCH = datetime(1899, 12, 30)

_TOKEN_RE = re.compile(
    r'"[^"]*"|\\.|_.|\*.|\[[^\]]*\]|AM/PM|am/pm|A/P|a/p|[yY]+|[mM]+|[dD]+|[hH]+|[sS]+|[eE][+-]|[0#?]|.',
    re.DOTALL)


def is_general(code: str) -> bool:
    return code.strip().lower() in ("", "general", "@")


def compile_format(code: str) -> Renderer | None:
    """A renderer for ``code``, or None when the code needs nothing beyond General."""
    if is_general(code):
        return None
    sections = _split(code)
    parsed = [_tokens(s) for s in sections[:4]]
    if any(p is None for p in parsed):
        return None
    return _Format(parsed).render  # type: ignore[arg-type]


def _split(code: str) -> list[str]:
    out, cur, quoted = [], [], False
    i = 0
    while i < len(code):
        ch = code[i]
        if ch == '"':
            quoted = not quoted
        elif ch == "\\" and not quoted and i + 1 < len(code):
            cur.append(code[i:i + 2])
            i += 2
            continue
        elif ch == ";" and not quoted:
            out.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def _tokens(section: str) -> list[tuple[str, str]] | None:
    """(kind, text) tokens: lit, digit, dot, comma, pct, text, or a date part; None if unsupported."""
    tokens: list[tuple[str, str]] = []
    for tok in _TOKEN_RE.findall(section):
        head = tok[0]
        if head == '"':
            tokens.append(("lit", tok[1:-1]))
        elif head == "\\":
            tokens.append(("lit", tok[1]))
        elif head == "_":
            tokens.append(("lit", " "))
        elif head == "*":
            continue
        elif head == "[":
            inner = tok[1:-1]
            if inner[:1] in "<>=":
                return None  # conditions: leave to General
            if re.fullmatch(r"[hH]+|[mM]+|[sS]+", inner):
                tokens.append(("elapsed", inner.lower()))
            elif inner.startswith("$") and "-" in inner:
                tokens.append(("lit", inner[1:inner.index("-")]))
            elif inner.startswith("$"):
                tokens.append(("lit", inner[1:]))
            continue  # colours, locales
        elif tok in ("AM/PM", "am/pm", "A/P", "a/p"):
            tokens.append(("ampm", tok))
        elif head in "yYmMdDhHsS" and tok.isalpha():
            tokens.append((head.lower(), tok.lower()))
        elif head in "eE" and len(tok) == 2:
            return None  # scientific
        elif tok in "0#?":
            tokens.append(("digit", tok))
        elif tok == ".":
            tokens.append(("dot", tok))
        elif tok == ",":
            tokens.append(("comma", tok))
        elif tok == "%":
            tokens.append(("pct", tok))
        elif tok == "@":
            tokens.append(("text", tok))
        elif tok == "/" and any(k == "digit" for k, _ in tokens):
            return None  # fractions
        else:
            tokens.append(("lit", tok))
    return tokens


_DATE_KINDS = frozenset("ymdhs") | {"ampm", "elapsed"}


class _Format:
    def __init__(self, sections: list[list[tuple[str, str]]]) -> None:
        self.sections = sections
        self.is_date = any(k in _DATE_KINDS for k, _ in sections[0])
        # Zero padding alone (00000: zip codes, employee numbers) is most of what rosters use, on
        # every row: a whole number is padded directly instead of through the general renderer.
        first = sections[0]
        self.pad = len(first) if len(sections) == 1 and first and all(t == ("digit", "0") for t in first) else 0
        self.plans = [_NumberPlan(section) if section and not self.is_date else None for section in sections]

    def render(self, value: object) -> str | None:
        if self.pad and _whole(value):  # the usual cell (a zip code, an employee number), first and directly
            return ("-" if value < 0 else "") + str(abs(int(value))).zfill(self.pad)  # type: ignore[operator]
        if isinstance(value, str):
            text = self.sections[3] if len(self.sections) > 3 else self.sections[0]
            if any(k == "text" for k, _ in text) and any(k == "lit" for k, _ in text):
                return "".join(value if k == "text" else t if k == "lit" else "" for k, t in text)
            return None
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, datetime | date | time | timedelta):
            return _render_date(self.sections[0], value) if self.is_date else None
        if not isinstance(value, int | float) or value != value or value in (float("inf"), float("-inf")):
            return None
        if self.is_date:
            when = _from_serial(float(value))
            return _render_date(self.sections[0], when) if when is not None else None
        return self._number(float(value))

    def _number(self, v: float) -> str | None:
        secs, plans = self.sections, self.plans
        if v < 0 and len(secs) > 1 and secs[1]:
            return plans[1].render(-v, sign="")
        if v == 0 and len(secs) > 2 and secs[2]:
            return plans[2].render(0.0, sign="")
        if any(k in _DATE_KINDS for k, _ in secs[0]):
            return None
        return plans[0].render(abs(v), sign="-" if v < 0 else "")


_EXACT = 2 ** 53  # whole floats below this print exactly


def _whole(value: object) -> bool:
    """An int or a whole float small enough to print exactly (bools, NaN and infinities are not)."""
    kind = type(value)
    return (kind is int or (kind is float and value.is_integer())) and abs(value) < _EXACT  # type: ignore[union-attr,arg-type]


class _NumberPlan:
    """What a number section's tokens mean, worked out once per format instead of once per cell."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.has_digits = any(k == "digit" for k, _ in tokens)
        self.literal = "".join(t for k, t in tokens if k == "lit")
        dot = next((i for i, (k, _) in enumerate(tokens) if k == "dot"), len(tokens))
        self.int_part, frac_part = tokens[:dot], tokens[dot + 1:]
        digits = [i for i, (k, _) in enumerate(self.int_part) if k == "digit"]
        last_digit = digits[-1] if digits else -1
        # Commas right after the last integer placeholder scale by 1,000 each; between them they group.
        trailing = 0
        for k, _ in self.int_part[last_digit + 1:]:
            if k != "comma":
                break
            trailing += 1
        self.percent = 100 ** sum(1 for k, _ in tokens if k == "pct")
        self.thousands = 1000 ** trailing  # applied as two steps, as Excel does: no new rounding
        self.grouping = any(k == "comma" for k, _ in self.int_part[:last_digit + 1]) if digits else False
        self.places = [t for k, t in frac_part if k == "digit"]
        self.quantum = Decimal(1).scaleb(-len(self.places))
        self.suffix = "".join(t if k == "lit" else "%" if k == "pct" else "" for k, t in frac_part)

    def render(self, v: float, sign: str) -> str | None:
        if not self.has_digits:
            return sign + self.literal if self.tokens else None
        v *= self.percent
        v /= self.thousands
        q = Decimal(repr(v)).quantize(self.quantum, rounding=ROUND_HALF_UP)
        whole, _, frac = f"{q:f}".partition(".")
        frac_text = _fraction(self.places, frac)
        if frac_text is None:
            return None
        out = _fill_integer(self.int_part, whole.lstrip("0"), self.grouping)
        return sign + out + ("." + frac_text if self.places else "") + self.suffix


def _fill_integer(tokens: list[tuple[str, str]], whole: str, grouping: bool) -> str:
    """Digits fill the placeholders from the right; the leftmost takes what is left over."""
    slots = [i for i, (k, _) in enumerate(tokens) if k == "digit"]
    if grouping:  # one run of placeholders: pad to the 0s, then group by thousands
        zeros = sum(1 for i in slots if tokens[i][1] == "0")
        padded = whole.rjust(zeros, "0")
        text = f"{int(padded):,}".rjust(len(padded) + (len(padded) - 1) // 3, "0") if padded else ""
        first, last = slots[0], slots[-1]
        return ("".join(t for k, t in tokens[:first] if k == "lit") + text
                + "".join(t if k == "lit" else "%" if k == "pct" else "" for k, t in tokens[last + 1:]))
    assigned: dict[int, str] = {}
    rest = whole
    for n, i in enumerate(reversed(slots)):
        if n == len(slots) - 1:
            take, rest = rest, ""
        else:
            take, rest = rest[-1:], rest[:-1]
        kind = tokens[i][1]
        assigned[i] = take or ("0" if kind == "0" else " " if kind == "?" else "")
    out: list[str] = []
    for i, (k, t) in enumerate(tokens):
        if k == "digit":
            out.append(assigned[i])
        elif k == "lit":
            out.append(t)
        elif k == "pct":
            out.append("%")
    return "".join(out)


def _fraction(places: list[str], frac: str) -> str | None:
    if not places:
        return ""
    chars = list(frac.ljust(len(places), "0"))
    for i in range(len(places) - 1, -1, -1):
        if places[i] == "0" or chars[i] != "0":
            break
        chars[i] = " " if places[i] == "?" else ""
    return "".join(chars)


def _from_serial(serial: float) -> datetime | None:
    if not 0 <= serial < 2958466:  # up to 9999-12-31
        return None
    if serial < 60:
        serial += 1  # Excel's phantom 1900-02-29
    return EPOCH + timedelta(days=serial)


def _render_date(tokens: list[tuple[str, str]], value: object) -> str | None:
    if isinstance(value, timedelta):
        base, span = None, value
    elif isinstance(value, time):
        if not any(k in ("h", "s", "elapsed") for k, _ in tokens):
            return None  # a time in a date-only format: Excel shows "1900-01-00"; keep the time
        base, span = datetime.combine(date(1899, 12, 31), value), None
    elif isinstance(value, datetime):
        base, span = value, None
    elif isinstance(value, date):
        base, span = datetime.combine(value, time()), None
    else:
        return None
    if base is not None and base.microsecond:
        base = (base + timedelta(microseconds=500_000)).replace(microsecond=0)
    twelve = any(k == "ampm" for k, _ in tokens)
    kinds = [k for k, _ in tokens]
    out: list[str] = []
    for i, (kind, tok) in enumerate(tokens):
        if kind in ("lit", "comma", "dot", "pct", "text"):
            out.append(tok)
        elif kind == "digit":
            out.append("0")  # fractions of a second: shown rounded away
        elif kind == "elapsed":
            total = span.total_seconds() if span is not None else (base - EPOCH).total_seconds()  # type: ignore[operator]
            unit = {"h": 3600, "m": 60, "s": 1}[tok[0]]
            out.append(str(int(total // unit)).rjust(len(tok), "0"))
        elif span is not None:
            secs = int(span.total_seconds())
            part = {"h": secs // 3600 % 24, "m": secs // 60 % 60, "s": secs % 60}.get(kind)
            if kind == "m" and not _is_minute(kinds, i):
                return None
            if part is None:
                return None
            out.append(str(part).rjust(min(len(tok), 2), "0"))
        else:
            piece = _date_part(kind, tok, base, twelve, _is_minute(kinds, i))  # type: ignore[arg-type]
            if piece is None:
                return None
            out.append(piece)
    return "".join(out)


def _is_minute(kinds: list[str], i: int) -> bool:
    before = [k for k in kinds[:i] if k not in ("lit", "dot", "digit")]
    after = [k for k in kinds[i + 1:] if k not in ("lit", "dot", "digit")]
    return bool(before and before[-1] in ("h", "elapsed")) or bool(after and after[0] == "s")


def _date_part(kind: str, tok: str, when: datetime, twelve: bool, minute: bool) -> str | None:
    n = len(tok)
    if kind == "y":
        return str(when.year) if n > 2 else f"{when.year % 100:02d}"
    if kind == "m" and minute:
        return f"{when.minute:02d}" if n >= 2 else str(when.minute)
    if kind == "m":
        return [str(when.month), f"{when.month:02d}", MONTHS[when.month - 1][:3], MONTHS[when.month - 1],
                MONTHS[when.month - 1][0]][min(n, 5) - 1]
    if kind == "d":
        return [str(when.day), f"{when.day:02d}", DAYS[when.weekday()][:3], DAYS[when.weekday()]][min(n, 4) - 1]
    if kind == "h":
        hour = when.hour % 12 or 12 if twelve else when.hour
        return f"{hour:02d}" if n >= 2 else str(hour)
    if kind == "s":
        return f"{when.second:02d}" if n >= 2 else str(when.second)
    if kind == "ampm":
        am = when.hour < 12
        if tok.lower() == "a/p":
            return ("a" if am else "p") if tok[0] == "a" else ("A" if am else "P")
        return ("AM" if am else "PM") if tok[0] == "A" else ("am" if am else "pm")
    return None

"""Cells in the General format as Excel shows them: numbers without float noise, booleans, dates.

calamine returns typed cells (float/bool/date).  A cell without a number format reads as Excel's
General shows it: ``8212334444.0`` -> ``8212334444`` (never ``8.21E+09``), 1.5 -> ``1.5`` (at most 15
significant digits), TRUE/FALSE, ISO dates.  Cells with a number format go through
:mod:`bulkprov.io.shared.formats` first.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from bulkprov.io.shared.base import WS


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]



def float_text(v: float) -> str:
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if v != v or v in (float("inf"), float("-inf")):
        return ""
    text = f"{v:.15g}"
    if "e" in text:
        text = format(Decimal(text), "f")
    return text


def cell_text(v: object) -> str:
    """Text of a non-str calamine cell."""
    t = type(v)
    if t is float:
        return float_text(v)  # type: ignore[arg-type]
    if t is bool:
        return "TRUE" if v else "FALSE"
    if t is int:
        return str(v)
    if t is datetime:
        dt: datetime = v  # type: ignore[assignment]
        if dt.microsecond:
            dt = (dt + timedelta(microseconds=500_000)).replace(microsecond=0)
        return dt.date().isoformat() if dt.time() == time(0) else dt.strftime("%Y-%m-%d %H:%M:%S")
    if t is date:
        return v.isoformat()  # type: ignore[attr-defined]
    if t is time:
        tm: time = v  # type: ignore[assignment]
        return tm.replace(microsecond=0).isoformat(timespec="seconds")
    if t is timedelta:
        secs = round(v.total_seconds())  # type: ignore[attr-defined]
        sign, secs = ("-" if secs < 0 else ""), abs(secs)
        return f"{sign}{secs // 3600}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    if v is None:
        return ""
    return str(v).strip(WS)

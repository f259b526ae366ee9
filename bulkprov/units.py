"""Sizes and durations the way people read them (one home for every formatter)."""

from __future__ import annotations

from bulkprov.i18n import gettext as _


def human_size(n: float) -> str:
    """A byte count for people: 812 bytes, 3.4 MB, 2 GB."""
    if n < 1024:
        return _("{n} bytes").format(n=f"{n:.0f}")
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            break
    return f"{n:.1f} {unit}" if n < 10 else f"{n:.0f} {unit}"


def format_duration(seconds: float) -> str:
    """Rounded for a plan or an ETA: ``12 s``, ``14 min``, ``2.5 h``."""
    if seconds < 90:
        return _("{n} s").format(n=max(1, round(seconds)))
    if seconds < 5400:
        return _("{n} min").format(n=round(seconds / 60))
    return _("{n} h").format(n=f"{seconds / 3600:.1f}")


def clock_duration(seconds: float) -> str:
    """For a progress line: ``45s``, ``3m05s``."""
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"

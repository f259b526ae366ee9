"""Sizes and durations the way people read them (one home for every formatter)."""

from __future__ import annotations


def human_size(n: float) -> str:
    """A byte count for people: 812 bytes, 3.4 MB, 2 GB."""
    if n < 1024:
        return f"{n:.0f} bytes"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            break
    return f"{n:.1f} {unit}" if n < 10 else f"{n:.0f} {unit}"


def format_duration(seconds: float) -> str:
    """Rounded for a plan or an ETA: ``12 s``, ``14 min``, ``2.5 h``."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def clock_duration(seconds: float) -> str:
    """For a progress line: ``45s``, ``3m05s``."""
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"

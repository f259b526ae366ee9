"""Strict ids off (``--relaxed-ids``, ``strict_ids = false``): ids of an unusual shape and over-long values are
sent as written, each distinct value said once as a file warning."""

from __future__ import annotations

from bulkprov import schema
from bulkprov.errors import ROW_NOTES


class Relaxed:
    """Strict ids off: the relaxed shapes of :data:`bulkprov.schema.RELAXED_ID_RES` and over-long values
    are accepted, each distinct value reported once as a file warning (a few dozen at most)."""

    LIMIT = 25

    def __init__(self, warnings: list) -> None:
        self.warnings = warnings
        self.seen: set[tuple[str, str]] = set()
        self.more = 0
        self._more_at = 0

    def accepts(self, what: str, value: str, row: int, column: str) -> bool:
        if not schema.RELAXED_ID_RES[what].match(value):
            return False
        self._warn((column, value), ROW_NOTES["relaxed-id"].render(row=row, column=column, value=value, what=what))
        return True

    def length(self, row: int, column: str, value: str, limit: int) -> None:
        self._warn((column, value), ROW_NOTES["relaxed-id"].render("length", row=row, column=column,
                                                                   length=len(value), limit=limit))

    def _warn(self, key: tuple[str, str], message: str) -> None:
        from bulkprov.errors import InputWarning

        if key in self.seen:
            return
        self.seen.add(key)
        if len(self.seen) <= self.LIMIT:
            self.warnings.append(InputWarning("relaxed-id", message))
            return
        self.more += 1
        summary = InputWarning("relaxed-id", ROW_NOTES["relaxed-id"].render("more", count=self.more))
        if self.more == 1:
            self._more_at = len(self.warnings)
            self.warnings.append(summary)
        else:
            self.warnings[self._more_at] = summary

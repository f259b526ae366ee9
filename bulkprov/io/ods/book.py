"""An ods (OpenDocument) workbook through calamine: the zip checked, then every sheet's formats, formulas
and extent read by our own pass over ``content.xml`` (:mod:`bulkprov.io.ods.scan`) before calamine opens it."""

from __future__ import annotations

from bulkprov.io.ods.scan import scan_content
from bulkprov.io.shared.base import SheetFacts
from bulkprov.io.shared.calamine import ScannedBook
from bulkprov.io.shared.guard import damaged


class OdsBook(ScannedBook):
    format = "ods"

    def _open_format(self) -> None:
        self._open_zip()

    def _scan_book(self) -> dict[str, SheetFacts]:
        assert self.zip is not None
        with damaged(self.path, "content.xml"):
            return scan_content(self.zip)

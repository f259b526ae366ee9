"""An xls (Excel 97-2003) workbook through calamine: the OLE container classified first (an encrypted
xlsx, another Office file), then every sheet's formats, formulas and extent read by our own pass
(:mod:`bulkprov.io.xls.scan`) before calamine opens it."""

from __future__ import annotations

from bulkprov.i18n import gettext as _
from bulkprov.io.shared.base import SheetFacts
from bulkprov.io.shared.calamine import ScannedBook
from bulkprov.io.shared.guard import damaged
from bulkprov.io.xls.ole import classify_ole
from bulkprov.io.xls.scan import scan_xls


class XlsBook(ScannedBook):
    format = "xls"

    def _open_format(self) -> None:
        classify_ole(self.path)  # an OLE file that is not an xls workbook raises its own error

    def _scan_book(self) -> dict[str, SheetFacts]:
        with damaged(self.path, _("Workbook stream")):
            return scan_xls(self.path, self.limits.max_bytes)

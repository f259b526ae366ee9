"""What every reader shares: what a file is (``sniff``), damaged data as ``corrupt-file`` (``guard``), the
:class:`~bulkprov.io.shared.base.Table` and its limits (``base``), the header row, data rows and lookup sheets
(``headers``), cells as Excel shows them (``sheetrows``, ``numfmt``, ``formats``), and calamine with the guards
xlsx, xls and ods share (``calamine``)."""

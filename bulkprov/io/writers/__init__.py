"""Writing workbooks: ``xlsx`` (XlsxWriter, atomic, owner-only, text as text), ``xlsxstream`` (our streaming
writer of the result workbooks), ``xlsxcharts`` (the Summary's charts) and ``sheetxml`` (the XML they share)."""

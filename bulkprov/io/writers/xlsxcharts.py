"""Bar charts on a sheet of :mod:`bulkprov.io.writers.xlsxstream`: the drawing, chart and relationship parts.

Kept apart because it is a different part of the Open XML package (DrawingML); the streaming
writer only asks for the parts of one sheet's charts and writes them into its zip.
"""

from __future__ import annotations

from dataclasses import dataclass

from bulkprov.io.writers.sheetxml import XML, escape_xml, fit, quoted_sheet

__all__ = ["Chart", "parts"]


@dataclass
class Chart:
    """A bar chart of one column of numbers against one column of labels on the same sheet
    (rows ``first``..``last``, 1-based), drawn at ``anchor`` (first col, first row, last col, last row,
    0-based).  Excel, LibreOffice and openpyxl draw it from the cells; the cached values are for
    viewers that do not recalculate."""

    title: str
    first: int
    last: int
    labels: list[str]
    values: list[int]
    anchor: tuple[int, int, int, int]
    label_col: str = "A"
    value_col: str = "B"



def parts(sheet_no: int, sheet_name: str, charts: list[Chart], charts_before: int) -> list[tuple[str, str]]:
    """The zip members (name, XML) that put ``charts`` on sheet number ``sheet_no``."""
    out = [(f"xl/worksheets/_rels/sheet{sheet_no}.xml.rels",
            _rels([("rId1", "drawing", f"../drawings/drawing{sheet_no}.xml")]))]
    anchors, rels = [], []
    for n, chart in enumerate(charts, start=1):
        number = charts_before + n
        out.append((f"xl/charts/chart{number}.xml", _chart_xml(sheet_name, chart)))
        rels.append((f"rId{n}", "chart", f"../charts/chart{number}.xml"))
        anchors.append(_anchor_xml(n, chart))
    out.append((f"xl/drawings/_rels/drawing{sheet_no}.xml.rels", _rels(rels)))
    out.append((f"xl/drawings/drawing{sheet_no}.xml", _DRAWING.format("".join(anchors))))
    return out


_REL_TYPES = {"drawing": "http://schemas.openxmlformats.org/officeDocument/2006/relationships/drawing",
              "chart": "http://schemas.openxmlformats.org/officeDocument/2006/relationships/chart"}


def _rels(items: list[tuple[str, str, str]]) -> str:
    rels = "".join(f'<Relationship Id="{rid}" Type="{_REL_TYPES[kind]}" Target="{target}"/>'
                   for rid, kind, target in items)
    return XML + f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>'


_DRAWING = XML + (
    '<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">{}</xdr:wsDr>')


def _anchor_xml(n: int, chart: Chart) -> str:
    c1, r1, c2, r2 = chart.anchor
    return (f'<xdr:twoCellAnchor><xdr:from><xdr:col>{c1}</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>{r1}</xdr:row>'
            f'<xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:to><xdr:col>{c2}</xdr:col><xdr:colOff>0</xdr:colOff>'
            f'<xdr:row>{r2}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to><xdr:graphicFrame macro="">'
            f'<xdr:nvGraphicFramePr><xdr:cNvPr id="{n + 1}" name="Chart {n}"/><xdr:cNvGraphicFramePr/>'
            '</xdr:nvGraphicFramePr><xdr:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/></xdr:xfrm><a:graphic>'
            '<a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/chart"><c:chart '
            'xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
            f'r:id="rId{n}"/></a:graphicData></a:graphic></xdr:graphicFrame><xdr:clientData/></xdr:twoCellAnchor>')


def _chart_xml(sheet: str, chart: Chart) -> str:
    where = escape_xml(quoted_sheet(sheet))
    labels = "".join(f'<c:pt idx="{i}"><c:v>{escape_xml(fit(t))}</c:v></c:pt>' for i, t in enumerate(chart.labels))
    values = "".join(f'<c:pt idx="{i}"><c:v>{v}</c:v></c:pt>' for i, v in enumerate(chart.values))
    n = len(chart.labels)
    return (XML + '<c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" '
            'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><c:chart>'
            f'<c:title><c:tx><c:rich><a:bodyPr/><a:p><a:r><a:t>{escape_xml(chart.title)}</a:t></a:r></a:p>'
            '</c:rich></c:tx><c:overlay val="0"/></c:title><c:autoTitleDeleted val="0"/><c:plotArea><c:layout/>'
            '<c:barChart><c:barDir val="bar"/><c:grouping val="clustered"/><c:varyColors val="0"/><c:ser>'
            '<c:idx val="0"/><c:order val="0"/><c:invertIfNegative val="0"/>'
            f'<c:cat><c:strRef><c:f>{where}!${chart.label_col}${chart.first}:${chart.label_col}${chart.last}</c:f>'
            f'<c:strCache><c:ptCount val="{n}"/>{labels}</c:strCache></c:strRef></c:cat>'
            f'<c:val><c:numRef><c:f>{where}!${chart.value_col}${chart.first}:${chart.value_col}${chart.last}</c:f>'
            f'<c:numCache><c:formatCode>General</c:formatCode><c:ptCount val="{n}"/>{values}</c:numCache>'
            '</c:numRef></c:val></c:ser><c:gapWidth val="60"/><c:axId val="10"/><c:axId val="20"/></c:barChart>'
            '<c:catAx><c:axId val="10"/><c:scaling><c:orientation val="maxMin"/></c:scaling><c:delete val="0"/>'
            '<c:axPos val="l"/><c:numFmt formatCode="General" sourceLinked="0"/><c:tickLblPos val="nextTo"/>'
            '<c:crossAx val="20"/><c:crosses val="autoZero"/><c:auto val="1"/><c:lblAlgn val="ctr"/>'
            '<c:lblOffset val="100"/></c:catAx><c:valAx><c:axId val="20"/><c:scaling><c:orientation val="minMax"/>'
            '</c:scaling><c:delete val="0"/><c:axPos val="b"/><c:majorGridlines/><c:numFmt formatCode="General" '
            'sourceLinked="1"/><c:tickLblPos val="nextTo"/><c:crossAx val="10"/><c:crosses val="autoZero"/>'
            '<c:crossBetween val="between"/></c:valAx></c:plotArea><c:plotVisOnly val="1"/></c:chart></c:chartSpace>')

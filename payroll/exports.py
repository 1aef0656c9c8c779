"""CSV and XLSX renderings of ``payroll.selectors.export_rows`` — the format of ``export_sales``.

The CSV format is fixed (other tools read it): the header below, amounts as plain decimals with two
places and a ``.`` separator, no grouping, whatever the UI language; ``employee`` empty for
unassigned; UTF-8 without BOM; ``\\n`` line ends. Nothing here is localized, on purpose.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import IO, Protocol

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from payroll.selectors import EXPORT_COLUMNS, ExportRow

CSV_HEADER = ",".join(EXPORT_COLUMNS)
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
AMOUNT_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
COUNT_FORMAT = "0"
_CENT = Decimal("0.01")
# Text a spreadsheet would run as a formula ("CSV injection"): names come from REGOS users and admins.
# Not only at the start of the cell: Excel in ru/uz locales splits a CSV on ";", a pasted cell splits
# on "," and newlines, and leading blanks (NBSP too) do not stop a formula. So every piece after a
# separator, once blanks are skipped, must not start with one of these.
_FORMULA_START = "=+-@\t\r"
_FORMULA_PIECE = re.compile(r"(^|[;,\n\r])([\s\u200b\ufeff]*)(?=[" + re.escape(_FORMULA_START) + "])")


def safe_text(value: str) -> str:
    """A name as spreadsheet text: a ``'`` in front of every piece that would start a formula
    (``=HYPERLINK(...)``, ``x;=cmd``, an NBSP then ``@SUM(...)``) makes a spreadsheet read it as text."""
    return _FORMULA_PIECE.sub(r"\1\2'", value)


def plain_amount(value: Decimal) -> str:
    """``1234567.5`` → ``"1234567.50"``: never grouped, never localized, never in exponent form."""
    value = Decimal(value).quantize(_CENT)
    if value == 0:
        value = Decimal("0.00")  # no "-0.00"
    return format(value, "f")


def csv_cells(row: ExportRow) -> list[str]:
    return [
        row.date.isoformat(),
        safe_text(row.branch),
        safe_text(row.employee),
        plain_amount(row.retail_sales),
        plain_amount(row.retail_returns),
        plain_amount(row.wholesale_sales),
        plain_amount(row.wholesale_returns),
        plain_amount(row.total_sales),
        str(int(row.cheque_count)),
    ]


def csv_lines(rows: Iterable[ExportRow]) -> Iterator[str]:
    """The CSV text line by line (header first), for streaming responses and files alike."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    yield CSV_HEADER + "\n"
    for row in rows:
        writer.writerow(csv_cells(row))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


class TextSink(Protocol):
    """What ``write_csv`` writes to: a text file, or any other object with ``write(str)``
    (``export_sales`` passes a wrapper of the command's stdout)."""

    def write(self, text: str, /) -> object: ...


def write_csv(rows: Iterable[ExportRow], out: TextSink) -> int:
    """Write the CSV to a text stream; returns the number of data rows."""
    count = -1  # the header is not a row
    for line in csv_lines(rows):
        out.write(line)
        count += 1
    return count


def write_xlsx(rows: Iterable[ExportRow], out: IO[bytes] | str, *, sheet_title: str = "sales") -> int:
    """Write the XLSX (same columns; dates as dates, amounts as numbers ``#,##0.00``); returns rows.

    A write-only workbook streams rows to a temporary file instead of keeping a month of a big chain
    as cell objects in memory.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title)
    widths = {"A": 12, "B": 28, "C": 28, "D": 16, "E": 16, "F": 16, "G": 16, "H": 16, "I": 12}
    for letter, width in widths.items():
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in EXPORT_COLUMNS:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    count = 0
    for row in rows:
        sheet.append([_cell(sheet, value) for value in row])
        count += 1
    workbook.save(out)
    return count


def _cell(sheet, value: object) -> WriteOnlyCell:  # type: ignore[no-untyped-def]
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, Decimal):
        cell.number_format = AMOUNT_FORMAT
    elif isinstance(value, date):
        cell.number_format = DATE_FORMAT
    elif isinstance(value, int):
        cell.number_format = COUNT_FORMAT
    elif isinstance(value, str):
        cell.data_type = "s"  # always text: openpyxl would store "=..." as a formula
    return cell


def export_filename(date_from: date, date_to: date, extension: str) -> str:
    return f"sales_{date_from.isoformat()}_{date_to.isoformat()}.{extension}"

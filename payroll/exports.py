"""CSV and XLSX files: the machine format of ``export_sales``, and the panel's reports for people.

The machine format (``csv_lines``/``write_csv``/``write_xlsx``, also served at ``/reports/export.csv``
and ``.xlsx``) is fixed — other tools read it: the header below, amounts as plain decimals with two
places and a ``.`` separator, no grouping, whatever the UI language; ``employee`` empty for
unassigned; UTF-8 without BOM; ``\\n`` line ends. Nothing in it is localized, on purpose.

The panel's reports (``ReportTable`` and below) are for an accountant to open and hand on: headers in
the reader's language, a totals row, the REGOS users behind "(unassigned)", an XLSX autofilter and
frozen header, and a CSV that Excel opens into columns in the reader's locale (see ``excel_csv_dialect``).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import IO, Protocol

from django.utils import formats
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from payroll.models import UNASSIGNED
from payroll.selectors import (
    EXPORT_COLUMNS,
    AdjustmentLine,
    ExportRow,
    Figures,
    MonthlySummary,
    PeriodRegister,
    UnassignedUsers,
)

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


# --------------------------------------------------------------------------- the panel's reports

Cell = str | date | Decimal | int | None
BOM = "\ufeff"
# Characters Excel refuses in a sheet name (and its 31-character limit).
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
TEXT_WIDTH, DATE_WIDTH, NUMBER_WIDTH, DAYS_WIDTH = 28, 12, 16, 12


@dataclass(frozen=True, slots=True)
class ReportTable:
    """One table of a panel report: a sheet of the XLSX, or a whole CSV file."""

    title: str  # the sheet name
    headers: Sequence[str]
    widths: Sequence[int]
    rows: Iterable[Sequence[Cell]]  # may stream: read once
    totals: Sequence[Cell]


def excel_csv_dialect() -> tuple[str, str]:
    """(field delimiter, decimal separator) of a CSV that Excel opens into columns in the reader's locale.

    Excel splits a double-clicked CSV on the system's list separator, and Windows makes that ``;``
    wherever the decimal separator is ``,`` — as in the ru-RU and uz-Latn-UZ locales — and ``,`` where
    it is ``.`` (en). The active language's decimal separator stands for the reader's locale; amounts
    use it too, so Excel reads them as numbers (``800000.50`` in a ru locale would be text, or a date).
    A ``sep=;`` first line is not used: with it Excel ignores the BOM and garbles UTF-8 again.
    """
    decimal_separator = formats.get_format("DECIMAL_SEPARATOR", use_l10n=True)
    return (";" if decimal_separator == "," else ","), decimal_separator


def _csv_text(value: Cell, decimal_separator: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, Decimal):
        return plain_amount(value).replace(".", decimal_separator)
    if isinstance(value, date):
        return value.isoformat()  # Excel reads ISO dates as dates in every locale
    return str(int(value))


def report_csv_chunks(table: ReportTable) -> Iterator[bytes]:
    """The table as Excel-friendly CSV bytes: UTF-8 with BOM (or Excel reads it as the ANSI code page
    and garbles ``doʻkoni`` and Cyrillic), CRLF, the locale's delimiter; header, rows, totals."""
    delimiter, decimal_separator = excel_csv_dialect()
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    buffer.write(BOM)
    for cells in (table.headers, *_with_totals(table)):
        writer.writerow([_csv_text(value, decimal_separator) for value in cells])
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()


def _with_totals(table: ReportTable) -> Iterator[Sequence[Cell]]:
    yield from table.rows
    yield table.totals


def sheet_title(title: str) -> str:
    return _SHEET_FORBIDDEN.sub(" ", title).strip()[:31] or "sheet"


def write_report_xlsx(tables: Iterable[ReportTable], out: IO[bytes] | str) -> None:
    """One sheet per table: bold frozen header, an autofilter over header and rows, the totals row bold
    below the filtered range (sorting or filtering the rows never moves it). Dates are dates, amounts
    numbers ``#,##0.00``, which Excel shows in the reader's own locale."""
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for table in tables:
        sheet = workbook.create_sheet(title=sheet_title(table.title))
        for index, width in enumerate(table.widths, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.freeze_panes = "A2"
        sheet.append([_bold(_cell(sheet, name), bold) for name in table.headers])
        count = 0
        for row in table.rows:
            sheet.append([_cell(sheet, value) for value in row])
            count += 1
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(table.headers))}{count + 1}"
        sheet.append([_bold(_cell(sheet, value), bold) for value in table.totals])
    workbook.save(out)


def _bold(cell: WriteOnlyCell, font: Font) -> WriteOnlyCell:
    cell.font = font
    return cell


def _figure_headers() -> list[str]:
    return [_("Retail sales"), _("Retail returns"), _("Wholesale sales"), _("Wholesale returns"), _("Net total"),
            _("Cheques")]


def _figure_cells(figures: Figures) -> list[Cell]:
    return [figures.retail_sales, figures.retail_returns, figures.wholesale_sales, figures.wholesale_returns,
            figures.total_sales, figures.cheque_count]


FIGURE_WIDTHS = [NUMBER_WIDTH] * 5 + [DAYS_WIDTH]


def unassigned_label(
    unassigned: UnassignedUsers, *, day: date | None = None, branch_id: str | None = None
) -> str:
    """``(unassigned)`` with the REGOS users whose documents the line holds, so the reader knows whom to map."""
    labels = [
        (unassigned.names.get(pk) or f"#{pk}") if pk is not None else _("no REGOS user")
        for pk in unassigned.users(day=day, branch_id=branch_id)
    ]
    if not labels:
        return _("(unassigned)")
    return _("(unassigned): %(users)s") % {"users": ", ".join(labels)}


def history_report(
    rows: Iterable[tuple[str, str, ExportRow]], *, totals: Figures, unassigned: UnassignedUsers
) -> ReportTable:
    """The history's daily rows (``selectors.keyed_export_rows``) as a panel report."""

    def cells() -> Iterator[list[Cell]]:
        for branch_id, employee_key, row in rows:
            employee = (
                unassigned_label(unassigned, day=row.date, branch_id=branch_id)
                if employee_key == UNASSIGNED else row.employee
            )
            yield [row.date, row.branch, employee, row.retail_sales, row.retail_returns, row.wholesale_sales,
                   row.wholesale_returns, row.total_sales, row.cheque_count]

    return ReportTable(
        title=_("Sales history"),
        headers=[_("Business day"), _("Branch"), _("Employee"), *_figure_headers()],
        widths=[DATE_WIDTH, TEXT_WIDTH, TEXT_WIDTH, *FIGURE_WIDTHS],
        rows=cells(),
        totals=[_("Total"), None, None, *_figure_cells(totals)],
    )


def summary_reports(summary: MonthlySummary, *, unassigned: UnassignedUsers) -> dict[str, ReportTable]:
    """The monthly summary's three tables, by the names ``?table=`` takes: per employee, per branch,
    and the employee × branch breakdown; each with the days with sales."""
    days = _("Days with sales")
    employees = ReportTable(
        title=_("Per employee"),
        headers=[_("Employee"), *_figure_headers(), days],
        widths=[TEXT_WIDTH, *FIGURE_WIDTHS, DAYS_WIDTH],
        rows=[
            [unassigned_label(unassigned) if line.is_unassigned else line.name,
             *_figure_cells(line.figures), line.days]
            for line in summary.employees
        ],
        totals=[_("Total"), *_figure_cells(summary.total), None],
    )
    branches = ReportTable(
        title=_("Per branch"),
        headers=[_("Branch"), *_figure_headers(), days],
        widths=[TEXT_WIDTH, *FIGURE_WIDTHS, DAYS_WIDTH],
        rows=[[line.name, *_figure_cells(line.figures), line.days] for line in summary.branches],
        totals=[_("Total"), *_figure_cells(summary.total), None],
    )
    breakdown = ReportTable(
        title=_("Per employee and branch"),
        headers=[_("Employee"), _("Branch"), *_figure_headers(), days],
        widths=[TEXT_WIDTH, TEXT_WIDTH, *FIGURE_WIDTHS, DAYS_WIDTH],
        rows=[
            [unassigned_label(unassigned, branch_id=line.branch_id) if line.is_unassigned else line.employee_name,
             line.branch_name, *_figure_cells(line.figures), line.days]
            for line in summary.employee_branches
        ],
        totals=[_("Total"), None, *_figure_cells(summary.total), None],
    )
    return {"employees": employees, "branches": branches, "breakdown": breakdown}


def _adjustment_table(title: str, lines: list[AdjustmentLine]) -> ReportTable:
    total = sum((line.figures for line in lines), Figures())
    return ReportTable(
        title=title,
        headers=[_("Month"), _("Carried to"), _("Employee"), _("Branch"), *_figure_headers(), _("Found"),
                 _("Documents")],
        widths=[DATE_WIDTH, DATE_WIDTH, TEXT_WIDTH, TEXT_WIDTH, *FIGURE_WIDTHS, TEXT_WIDTH, TEXT_WIDTH],
        rows=[
            [line.month, line.carried_to, safe_text(line.employee_name) or _("(unassigned)"),
             safe_text(line.branch_name), *_figure_cells(line.figures),
             formats.date_format(line.found_at, "SHORT_DATETIME_FORMAT"),
             safe_text(", ".join(str(doc.get("code") or doc.get("regosId")) for doc in line.documents))]
            for line in lines
        ],
        totals=[_("Total"), None, None, None, *_figure_cells(total), None, None],
    )


def period_register_reports(register: PeriodRegister) -> list[ReportTable]:
    """A month's payroll register as XLSX sheets: the period (status, close date), per employee, per
    branch, the changes found after the close, and other months' changes carried into this one."""
    period = register.period
    closed = period is not None and period.is_closed
    status = period.get_status_display() if period is not None else _("open")
    info = ReportTable(
        title=_("Period"),
        headers=[_("Month"), _("Status"), _("Closed at"), _("Closed by")],
        widths=[DATE_WIDTH, TEXT_WIDTH, TEXT_WIDTH, TEXT_WIDTH],
        rows=[[f"{register.month:%Y-%m}", str(status),
               formats.date_format(period.closed_at, "SHORT_DATETIME_FORMAT") if closed else "",
               safe_text(period.closed_by) if closed else ""]],
        totals=[],
    )
    employees = ReportTable(
        title=_("Per employee"),
        headers=[_("Employee"), *_figure_headers()],
        widths=[TEXT_WIDTH, *FIGURE_WIDTHS],
        rows=[[safe_text(line.name) or _("(unassigned)"), *_figure_cells(line.figures)] for line in register.employees],
        totals=[_("Total"), *_figure_cells(register.total)],
    )
    branches = ReportTable(
        title=_("Per branch"),
        headers=[_("Branch"), *_figure_headers()],
        widths=[TEXT_WIDTH, *FIGURE_WIDTHS],
        rows=[[safe_text(line.name), *_figure_cells(line.figures)] for line in register.branches],
        totals=[_("Total"), *_figure_cells(register.total)],
    )
    return [
        info, employees, branches,
        _adjustment_table(_("Changes after close"), register.adjustments),
        _adjustment_table(_("Carried into this month"), register.carried_in),
    ]


# Apostrophe look-alikes of Uzbek Latin (Gʻijduvon, G'ijduvon) vanish from a file name: "gijduvon".
_APOSTROPHES = dict.fromkeys(map(ord, "'ʻʼ‘’`"), None)
_CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяўқғҳ",
    ["a", "b", "v", "g", "d", "e", "yo", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t",
     "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya", "o", "q", "g", "h"],
    strict=True,
))


def ascii_slug(text: str, *, limit: int = 40) -> str:
    """``"Gʻijduvon filiali"`` → ``"gijduvon-filiali"``, ``"Навоий"`` → ``"navoiy"``: safe in any file
    name and in a plain ASCII Content-Disposition header."""
    text = "".join(_CYRILLIC.get(char, char) for char in text.lower().translate(_APOSTROPHES))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:limit].strip("-")


def report_filename(*parts: str, extension: str) -> str:
    """``report_filename("sales-history", "2026-11-01", "2026-11-30", "Navoiy filiali", extension="xlsx")``
    → ``sales-history_2026-11-01_2026-11-30_navoiy-filiali.xlsx``; empty parts are left out."""
    return "_".join(slug for slug in map(ascii_slug, parts) if slug) + "." + extension

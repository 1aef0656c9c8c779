"""The history page's figures as ready-to-print text: formatted once in Python, printed with plain ``{{ }}``.

A month of a big chain puts ~1,300 amounts on the history page (totals, subtotals by branch and by
employee, 50 rows, and a point per day and branch in the chart). Formatted by ``floatformat`` and
``date`` filters, each in its own template lookups, they were a third of the page's server time; here
the language's formats are read once per request and each text costs about a microsecond.

Every text is exactly what the templates printed before, in the active language:

- money as ``{{ value|floatformat:"2g" }}``: rounded half up to two places, always grouped, safe;
- counts as ``{{ value }}``: localized (grouped when ``USE_THOUSAND_SEPARATOR``), escaped by the template;
- days as ``{{ value|date:"SHORT_DATE_FORMAT" }}``.

tests/test_history_presentation.py holds the texts to those filters in Uzbek, Russian and English.
Amounts stay Decimal up to the moment they become text; only chart coordinates are floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal

from django.conf import settings
from django.utils import dateformat, formats
from django.utils.html import escape
from django.utils.numberformat import format as format_number
from django.utils.safestring import SafeString, mark_safe

from payroll.models import UNASSIGNED
from payroll.selectors import DailyTotals, Figures, HistoryOverview, HistoryRow, Subtotal

CENT = Decimal("0.01")
# Wide enough that rounding a sum of a year of a chain to cents can never overflow the context.
_ROUNDING = Context(prec=60)


class Printer:
    """Numbers and days as the templates print them in the language active when it was created.

    One per request: the language's separators are looked up once, not per number.
    """

    def __init__(self) -> None:
        self.decimal_separator: str = formats.get_format("DECIMAL_SEPARATOR", use_l10n=True)
        self.thousand_separator: str = formats.get_format("THOUSAND_SEPARATOR", use_l10n=True)
        self.grouping: int | tuple[int, ...] = formats.get_format("NUMBER_GROUPING", use_l10n=True)
        # Python's "," format groups by threes; any other grouping goes through Django's own code.
        self._by_threes = self.grouping == 3
        self.short_date_format: str = formats.get_format("SHORT_DATE_FORMAT", use_l10n=True)
        self._days: dict[date, str] = {}

    def money(self, value: Decimal) -> SafeString:
        """``{{ value|floatformat:"2g" }}``: marked safe like floatformat's output, so never escaped."""
        return SafeString(self.money_text(value))

    def money_text(self, value: Decimal) -> str:
        """The text of :meth:`money`, for markup built here (the chart's points)."""
        cents = value.quantize(CENT, ROUND_HALF_UP, _ROUNDING)
        if not cents:
            cents = abs(cents)  # floatformat prints a rounded -0.001 as 0.00, not -0.00
        if self._by_threes:
            text = format(cents, ",.2f")  # always "…,ddd.dd": the last three characters are ".dd"
            return text[:-3].replace(",", self.thousand_separator) + self.decimal_separator + text[-2:]
        return format_number(f"{cents:f}", self.decimal_separator, 2, self.grouping, self.thousand_separator,
                             force_grouping=True, use_l10n=True)

    def count(self, value: int) -> str:
        """``{{ value }}`` of an int (plain text: the template escapes it, as it did the int's text)."""
        if self._by_threes and settings.USE_THOUSAND_SEPARATOR:
            return format(value, ",").replace(",", self.thousand_separator)
        return format_number(value, self.decimal_separator, None, self.grouping, self.thousand_separator,
                             use_l10n=True)

    def axis_label(self, value: Decimal) -> str:
        """``number_format(value, 0, force_grouping=True)``: whole units, the decimals cut off."""
        return format_number(value, self.decimal_separator, 0, self.grouping, self.thousand_separator,
                             force_grouping=True, use_l10n=True)

    def day(self, value: date) -> str:
        """``{{ value|date:"SHORT_DATE_FORMAT" }}``; kept, as the rows and the chart print the same few days."""
        text = self._days.get(value)
        if text is None:
            text = self._days[value] = dateformat.format(value, self.short_date_format)
        return text


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class FigureTexts:
    """The six figure cells of a table line, as printed."""

    retail_sales: str
    retail_returns: str
    wholesale_sales: str
    wholesale_returns: str
    total_sales: str
    cheque_count: str

    @classmethod
    def of(cls, figures: Figures, printer: Printer) -> FigureTexts:
        money = printer.money
        return cls(
            money(figures.retail_sales),
            money(figures.retail_returns),
            money(figures.wholesale_sales),
            money(figures.wholesale_returns),
            money(figures.total_sales),
            printer.count(figures.cheque_count),
        )

    @property
    def cells(self) -> tuple[tuple[str, str], ...]:
        """(CSS class, text) of the six cells, in column order: one template loop prints every table."""
        return (
            ("num", self.retail_sales),
            ("num", self.retail_returns),
            ("num", self.wholesale_sales),
            ("num", self.wholesale_returns),
            ("num net", self.total_sales),
            ("num", self.cheque_count),
        )


@dataclass(frozen=True, slots=True)
class SubtotalLine:
    name: str  # "" for the unassigned line
    is_unassigned: bool
    figures: FigureTexts


@dataclass(frozen=True, slots=True)
class HistoryTables:
    """The totals line and the subtotal tables of the history page."""

    totals: FigureTexts
    branches: list[SubtotalLine]
    employees: list[SubtotalLine]


def history_tables(overview: HistoryOverview, printer: Printer) -> HistoryTables:
    def lines(subtotals: list[Subtotal]) -> list[SubtotalLine]:
        return [
            SubtotalLine(name=s.name, is_unassigned=s.is_unassigned, figures=FigureTexts.of(s.figures, printer))
            for s in subtotals
        ]

    return HistoryTables(
        totals=FigureTexts.of(overview.totals, printer),
        branches=lines(overview.branches),
        employees=lines(overview.employees),
    )


@dataclass(frozen=True, slots=True)
class RowLine:
    """One line of the daily rows table."""

    date: date
    day: str  # ``date`` as printed
    branch_name: str
    employee_name: str  # "" for unassigned
    employee_key: str
    figures: FigureTexts
    quarantined: int = 0  # documents of the day quarantined: the day's figures are incomplete

    @property
    def is_unassigned(self) -> bool:
        return self.employee_key == UNASSIGNED


def row_line(row: HistoryRow, printer: Printer, *, quarantined: int = 0) -> RowLine:
    return RowLine(
        date=row.date,
        day=printer.day(row.date),
        branch_name=row.branch_name,
        employee_name=row.employee_name,
        employee_key=row.employee_key,
        figures=FigureTexts.of(row.figures, printer),
        quarantined=quarantined,
    )


@dataclass(frozen=True, slots=True)
class IncompleteDay:
    """A day of the range whose figures lack quarantined documents, and where to see them."""

    date: date
    day: str
    quarantined: int
    url: str  # the quarantine list of that day ("" without the permission to see it)


def incomplete_days(days: Mapping[date, int], printer: Printer, *, url: str) -> list[IncompleteDay]:
    return [
        IncompleteDay(date=day, day=printer.day(day), quarantined=count,
                      url=f"{url}?business_date={day.isoformat()}" if url else "")
        for day, count in days.items()
    ]


# --------------------------------------------------------------------------- the chart (server-side SVG)

CHART_WIDTH, CHART_HEIGHT = 960, 280
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 96, 12, 12, 36
PALETTE = ("#2f6fb0", "#d9822b", "#2e9e5b", "#c23b4e", "#7a4fb5", "#8c6d31", "#d45fa6", "#5f6b7a", "#1fa3a3",
           "#a3a31f")


# A point per day and branch: a month of 20 branches is 600 of them, so they are joined here into one
# string per line rather than looped over in the template (where each {{ }} costs a lookup and an escape).
POINT_SVG = '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{} — {}: {}</title></circle>'
POINT_SEPARATOR = "\n      "  # the indentation of the points inside their <g> in _chart.svg.html


def nice_ceiling(value: Decimal) -> Decimal:
    """The next "round" number ≥ value (1, 2, 2.5, 5 × 10ⁿ) so that gridlines get readable labels."""
    if value <= 0:
        return Decimal(0)
    exponent = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, Decimal("2.5"), 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def axis_ticks(low: Decimal, high: Decimal) -> list[Decimal]:
    """Round y ticks (a 1, 2, 2.5 or 5 × 10ⁿ step) from at most ``low`` to at least ``high``, always with 0
    among them: a chart with returns (negative days) gets a zero line and labels like −500 000, 0, 500 000."""
    low, high = min(low, Decimal(0)), max(high, Decimal(0))
    if high == low:
        return [Decimal(0), Decimal(1)]
    step = nice_ceiling((high - low) / 4)
    first = (low / step).to_integral_value(rounding="ROUND_FLOOR")
    last = (high / step).to_integral_value(rounding="ROUND_CEILING")
    return [step * k for k in range(int(first), int(last) + 1)]


def _n(value: float | Decimal) -> str:
    # Coordinates as plain strings: a template would localize a float into "96,5" in Uzbek/Russian.
    return f"{float(value):.1f}"


def history_chart(data: DailyTotals, printer: Printer) -> dict:
    """Geometry and labels of a line chart (one line per branch, a point per day) for _chart.svg.html."""
    plot_width = CHART_WIDTH - PLOT_LEFT - PLOT_RIGHT
    plot_height = CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    ticks = axis_ticks(data.trough, data.peak)
    bottom, top = ticks[0], ticks[-1]
    span = top - bottom
    count = len(data.days)
    xs = [_n(PLOT_LEFT + (plot_width / 2 if count == 1 else plot_width * i / (count - 1))) for i in range(count)]
    day_texts = [escape(printer.day(day)) for day in data.days]

    def y(value: Decimal) -> str:
        return _n(PLOT_TOP + float((top - value) / span) * plot_height)

    gridlines = [{"y": y(tick), "label": printer.axis_label(tick)} for tick in ticks]
    label_every = max(1, -(-count // 16))  # at most 16 day labels under the axis
    # The first and last labels sit on the plot's edges: anchored inwards so that neither is clipped.
    def anchor(i: int) -> str:
        if count > 1 and i in (0, count - 1):
            return "start" if i == 0 else "end"
        return "middle"

    day_labels = [
        {"x": xs[i], "day": day, "anchor": anchor(i)}
        for i, day in enumerate(data.days) if i % label_every == 0 or i == count - 1
    ]
    series = []
    for n, line in enumerate(data.series):
        color = PALETTE[n % len(PALETTE)]
        ys = [y(value) for value in line.totals]
        # Escaped as the template escaped them: the branch name once per line, each day's text once per
        # chart (format_html per point would escape all six values 600 times). Coordinates are digits, the
        # colour is ours and the amount is floatformat's own safe text.
        name = escape(line.name)
        points = mark_safe(POINT_SEPARATOR.join(  # noqa: S308 — every piece escaped or generated above
            POINT_SVG.format(xs[i], ys[i], color, name, day_texts[i], printer.money_text(value))
            for i, value in enumerate(line.totals)
        ))
        series.append({
            "name": line.name,
            "color": color,
            "points": points,
            "polyline": " ".join(f"{xs[i]},{ys[i]}" for i in range(count)),
            "total": printer.money(sum(line.totals, Decimal(0))),
        })
    return {
        "width": str(CHART_WIDTH),
        "height": str(CHART_HEIGHT),
        "plot_left": _n(PLOT_LEFT),
        "axis_label_x": _n(PLOT_LEFT - 8),
        "plot_right": _n(CHART_WIDTH - PLOT_RIGHT),
        "plot_top": _n(PLOT_TOP),
        "plot_bottom": _n(PLOT_TOP + plot_height),
        "zero_y": y(Decimal(0)),
        "label_y": _n(CHART_HEIGHT - 12),
        "gridlines": gridlines,
        "day_labels": day_labels,
        "series": series,
        "empty": not data.series,
    }

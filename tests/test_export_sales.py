"""export_sales (command) and the report export links: the fixed CSV format, XLSX, bad input.

The expected CSV below is typed from the table in tests/fixtures/people.py, not produced by the code.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation
from openpyxl import load_workbook

from payroll.exports import plain_amount

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent

NOVEMBER_CSV = (
    "date,branch,employee,retail_sales,retail_returns,wholesale_sales,wholesale_returns,total_sales,cheque_count\n"
    "2026-11-02,G'ijduvon filiali,Rahimov Bobur,650000.00,50000.00,0.00,0.00,600000.00,4\n"
    "2026-11-02,Navoiy filiali,Karimova Dilnoza,800000.50,0.00,2000000.00,0.00,2800000.50,5\n"
    "2026-11-02,Navoiy filiali,Toshmatov Aziz,1500000.00,100000.00,0.00,0.00,1400000.00,12\n"
    "2026-11-03,G'ijduvon filiali,Rahimov Bobur,0.00,0.00,5000000.00,250000.00,4750000.00,0\n"
    "2026-11-03,Navoiy filiali,,99999.75,0.00,0.00,0.00,99999.75,1\n"
    "2026-11-03,Navoiy filiali,Toshmatov Aziz,1200000.25,0.00,0.00,300000.00,900000.25,9\n"
)


def export_to_stdout(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_sales", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1234567.5"), "1234567.50"),
        (Decimal("0"), "0.00"),
        (Decimal("-0.00"), "0.00"),
        (Decimal("-300000"), "-300000.00"),
        (Decimal("1E+7"), "10000000.00"),  # never exponent form
        (Decimal("999999999999999.99"), "999999999999999.99"),  # the biggest MONEY value, no grouping
    ],
)
def test_plain_amount(value, text) -> None:  # noqa: ANN001
    assert plain_amount(value) == text


def test_csv_to_stdout_is_exactly_the_table(november_sales) -> None:  # noqa: ANN001
    out, err = export_to_stdout(
        "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv", "--output", "-"
    )
    assert out == NOVEMBER_CSV
    assert "6 rows" in err  # messages go to stderr only


def test_csv_is_never_localized(november_sales) -> None:  # noqa: ANN001
    for language in ("uz", "ru", "en"):
        with translation.override(language):
            out, _err = export_to_stdout("--from", "2026-11-01", "--to", "2026-11-30", "--output", "-")
        assert out == NOVEMBER_CSV, language


def test_csv_file_and_rerun_is_byte_identical(november_sales, tmp_path) -> None:  # noqa: ANN001
    target = tmp_path / "nov.csv"
    call_command(
        "export_sales",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--format",
        "csv",
        "--output",
        str(target),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    first = target.read_bytes()
    assert first == NOVEMBER_CSV.encode("utf-8")
    call_command(
        "export_sales",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--format",
        "csv",
        "--output",
        str(target),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    assert target.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nov.csv"]  # no temp files left


def test_one_day_range_and_empty_range(november_sales) -> None:  # noqa: ANN001
    out, _ = export_to_stdout("--from", "2026-12-01", "--to", "2026-12-01", "--output", "-")
    assert out.splitlines()[1:] == [
        "2026-12-01,G'ijduvon filiali,Rahimov Bobur,10000.00,0.00,0.00,0.00,10000.00,1"
    ]
    out, err = export_to_stdout("--from", "2027-01-01", "--to", "2027-01-31", "--output", "-")
    assert out.splitlines() == [NOVEMBER_CSV.splitlines()[0]]
    assert "0 rows" in err


def test_xlsx_file(november_sales, tmp_path) -> None:  # noqa: ANN001
    target = tmp_path / "nov.xlsx"
    call_command(
        "export_sales",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--format",
        "xlsx",
        "--output",
        str(target),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    sheet = load_workbook(target).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == tuple(NOVEMBER_CSV.splitlines()[0].split(","))
    assert len(rows) == 7
    # Row of Dilnoza (2nd data row): dates are dates, amounts are numbers.
    day, branch, employee, rs, rr, ws, wr, total, cheques = rows[2]
    assert day.date() == date(2026, 11, 2) and (branch, employee) == ("Navoiy filiali", "Karimova Dilnoza")
    assert (rs, rr, ws, wr, total, cheques) == (800000.5, 0, 2000000, 0, 2800000.5, 5)
    assert rows[5][2] is None  # unassigned: empty cell
    cells = list(sheet.iter_rows(min_row=3, max_row=3))[0]
    assert cells[0].number_format == "yyyy-mm-dd"
    assert {c.number_format for c in cells[3:8]} == {"#,##0.00"}
    assert cells[8].number_format == "0"
    assert cells[0].is_date


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-11-31", "--to", "2026-12-01"], "--from '2026-11-31' is not a date"),
        (["--from", "01.11.2026", "--to", "2026-12-01"], "--from '01.11.2026' is not a date"),
        (["--from", "2026-11-30", "--to", "2026-11-01"], "--to 2026-11-01 is before --from 2026-11-30"),
        (["--from", "2026-11-01", "--to", "9999-12-31"], "--to 9999-12-31 is outside 2000-01-01..2100-12-31"),
        (["--from", "0001-01-01", "--to", "2026-11-01"], "--from 0001-01-01 is outside 2000-01-01..2100-12-31"),
        (["--from", "2026-11-01", "--to", "2026-11-30", "--format", "pdf"], "unknown --format 'pdf'"),
        (["--to", "2026-11-30"], "--from is required"),
        (["--from", "2026-11-01"], "--to is required"),
        (
            ["--from", "2026-11-01", "--to", "2026-11-30", "--format", "xlsx", "--output", "-"],
            "XLSX is binary and cannot go to stdout",
        ),
    ],
)
def test_bad_input_is_one_clear_error_and_writes_nothing(db, tmp_path, args, message) -> None:  # noqa: ANN001
    target = tmp_path / "out.file"
    if "--output" not in args:
        args = [*args, "--output", str(target)]
    out = io.StringIO()
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("export_sales", *args, stdout=out, stderr=io.StringIO())
    assert out.getvalue() == ""
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_is_refused(db, tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(CommandError, match="does not exist"):
        call_command(
            "export_sales",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--output",
            str(tmp_path / "nope" / "x.csv"),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )


def test_failure_midway_leaves_no_partial_file(november_sales, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    target = tmp_path / "nov.csv"
    target.write_text("previous export\n")

    def broken_rows(**kwargs):  # noqa: ANN003, ANN202
        yield from []
        raise RuntimeError("database went away")

    monkeypatch.setattr("payroll.management.commands.export_sales.export_rows", broken_rows)
    with pytest.raises(RuntimeError):
        call_command(
            "export_sales",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--output",
            str(target),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert target.read_text() == "previous export\n"  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["nov.csv"]


@pytest.mark.django_db(transaction=True)
def test_manage_py_exit_codes_and_streams(november_sales, test_database_url, tmp_path) -> None:  # noqa: ANN001
    env = {**os.environ, "DATABASE_URL": test_database_url}
    ok = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "export_sales",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--format",
            "csv",
            "--output",
            "-",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == NOVEMBER_CSV
    bad = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "export_sales",
            "--from",
            "2026-11-30",
            "--to",
            "2026-11-01",
            "--output",
            str(tmp_path / "x.csv"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode != 0
    assert bad.stdout == ""
    assert bad.stderr.strip() == "CommandError: --to 2026-11-01 is before --from 2026-11-30"
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the same over HTTP


def test_http_csv_equals_the_command(accountant_client, november_sales) -> None:  # noqa: ANN001
    accountant_client.cookies["django_language"] = "ru"  # the UI language must not leak into the file
    response = accountant_client.get(
        "/reports/export.csv", {"date_from": "2026-11-01", "date_to": "2026-11-30"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="sales_2026-11-01_2026-11-30.csv"'
    assert b"".join(response.streaming_content).decode() == NOVEMBER_CSV


def test_http_csv_of_a_filtered_view(accountant_client, november_sales) -> None:  # noqa: ANN001
    c = november_sales
    response = accountant_client.get(
        "/reports/export.csv",
        {
            "date_from": "2026-11-01",
            "date_to": "2026-11-30",
            "branch": str(c.navoiy.pk),
            "sale_type": "wholesale",
        },
    )
    body = b"".join(response.streaming_content).decode()
    # Navoiy's wholesale rows only, figures projected on wholesale (retail columns 0, net = wholesale net).
    assert body.splitlines()[1:] == [
        "2026-11-02,Navoiy filiali,Karimova Dilnoza,0.00,0.00,2000000.00,0.00,2000000.00,0",
        "2026-11-03,Navoiy filiali,Toshmatov Aziz,0.00,0.00,0.00,300000.00,-300000.00,0",
    ]


def test_http_xlsx(accountant_client, november_sales) -> None:  # noqa: ANN001
    response = accountant_client.get(
        "/reports/export.xlsx", {"date_from": "2026-11-01", "date_to": "2026-11-30"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 7 and values[6][7] == 900000.25


def test_http_export_with_bad_filters_is_400(accountant_client, november_sales) -> None:  # noqa: ANN001
    response = accountant_client.get(
        "/reports/export.csv", {"date_from": "2026-11-30", "date_to": "2026-11-01"}
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("query", [{"date_from": "9999-12-31"}, {"date_to": "9999-12-31"},
                                   {"date_from": "0001-01-01", "date_to": "0001-01-01"}])
def test_http_export_at_the_ends_of_the_calendar_is_400(accountant_client, november_sales, fmt, query) -> None:  # noqa: ANN001
    """9999-12-31 + 1 day overflowed (a 500 before issue 15): now the form's message."""
    response = accountant_client.get(f"/reports/export.{fmt}", {**query}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "Enter a date between 2000-01-01 and 2100-12-31." in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_stdout_reader_that_stops_early_is_not_an_error(test_database_url) -> None:  # noqa: ANN001
    """`export_sales --output - | head`: the command ends quietly when the reader goes away."""
    from datetime import date, timedelta
    from decimal import Decimal

    from payroll.models import Branch, DailySalesHistory, Employee

    # Long names keep the row count small (the MongoDB test server is slow to insert) and the CSV big.
    branch = Branch.objects.create(name="Samarqand filiali " + "S" * 180)
    staff = Employee.objects.bulk_create(Employee(full_name=f"Sotuvchi {n:03d} " + "X" * 180) for n in range(10))
    DailySalesHistory.objects.bulk_create(
        DailySalesHistory(
            date=date(2026, 11, 1) + timedelta(days=day), branch=branch, employee=person,
            employee_key=str(person.pk), retail_sales=Decimal("1000.00"), total_sales=Decimal("1000.00"),
            cheque_count=1,
        )
        for day in range(30) for person in staff
    )  # 300 rows ≈ 120 KB of CSV: more than a pipe holds, so the writer meets the closed pipe
    reader = subprocess.Popen(
        [sys.executable, "manage.py", "export_sales", "--from", "2026-11-01", "--to", "2026-11-30",
         "--format", "csv", "--output", "-"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": test_database_url},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    header = reader.stdout.readline()
    reader.stdout.close()  # like `head -1`
    stderr = reader.stderr.read().decode()
    assert reader.wait(timeout=120) == 0, stderr
    assert header.decode().startswith("date,branch,employee,")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_no_hostile_cell_keeps_a_formula_piece() -> None:
    """Issue 15, item 8: `;=`, and formulas behind blanks, an NBSP or a newline, were left live."""
    from payroll.exports import safe_text
    from tests.fixtures.hostile import formula_pieces, hostile_cells

    cells = hostile_cells()
    live_before = [cell for cell in cells if formula_pieces(cell)]
    assert len(live_before) > 800  # the table is hostile: most cells would run something as given
    still_live = [cell for cell in cells if formula_pieces(safe_text(cell))]
    assert still_live == []
    # Only apostrophes are added: the name itself is unchanged.
    assert all(safe_text(c).replace("'", "") == c.replace("'", "") for c in cells)
    assert safe_text("Oddiy ism") == "Oddiy ism" and safe_text("O‘g‘il-Ali") == "O‘g‘il-Ali"
    assert safe_text("Aziz;=cmd") == "Aziz;'=cmd"
    assert safe_text("\xa0@SUM(1)") == "\xa0'@SUM(1)"


def test_hostile_names_in_the_written_csv_split_on_semicolons_start_no_formula() -> None:
    """The file as Excel in a ru/uz locale reads it: split on `;` (and on `,`), every field checked."""
    import re

    from payroll.exports import csv_lines
    from payroll.selectors import ExportRow
    from tests.fixtures.hostile import hostile_cells

    rows = [ExportRow(date=date(2026, 11, 1), branch=cell, employee=cell, retail_sales=Decimal("1"),
                      retail_returns=Decimal("0"), wholesale_sales=Decimal("0"), wholesale_returns=Decimal("0"),
                      total_sales=Decimal("1"), cheque_count=1) for cell in hostile_cells()]
    text = "".join(csv_lines(rows))
    # Read like a spreadsheet in a `;` locale, crudely: break lines anywhere, split on `;` and `,`
    # regardless of quoting, drop blanks and CSV quotes in front of each piece.
    pieces = [re.sub(r'^[\s"]*', "", piece) for piece in re.split(r"[;,\n\r]", text)]
    assert len(pieces) > 10 * len(rows)
    live = [piece for piece in pieces if piece.startswith(("=", "+", "-", "@"))]
    assert live == [], live[:5]

"""The database layer behaves the same on SQLite and MongoDB.

``make test`` runs this file in both passes. Every test states a behaviour the product relies on and
holds on both databases; where the backends really differ (``on_mongodb``), the test pins the
difference so that code written against one database does not silently break on the other.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, NotSupportedError, connection, transaction
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from payroll.models import Branch, DailySalesHistory, Employee
from sync.models import SalesFact, SyncGate, SyncRun
from tests.fixtures.processes import start_group, stop_group

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
TASHKENT = ZoneInfo("Asia/Tashkent")
DAY = dt.date(2026, 11, 24)


def history(branch: Branch, employee: Employee | None = None, day: dt.date = DAY, **figures) -> DailySalesHistory:
    return DailySalesHistory.objects.create(date=day, branch=branch, employee=employee, **figures)


# --- the backend in use ----------------------------------------------------------------------------


def test_the_pass_runs_on_the_database_it_claims(on_mongodb: bool) -> None:
    assert connection.vendor == ("mongodb" if on_mongodb else "sqlite")
    if os.environ.get("REGOS_TEST_DB"):
        assert (os.environ["REGOS_TEST_DB"].lower() in ("mongo", "mongodb")) == on_mongodb
    if on_mongodb:
        # pytest-django's test database, next to (never on) the configured one.
        assert connection.settings_dict["NAME"].startswith("test_")
        assert os.environ["DATABASE_URL"].endswith("/" + connection.settings_dict["NAME"])


def test_the_payroll_collections_keep_the_payroll_systems_names() -> None:
    names = set(connection.introspection.table_names())
    assert {"branches", "employees", "dailysaleshistories"} <= names


# --- constraints ----------------------------------------------------------------------------------


def test_one_unassigned_history_row_per_day_and_branch(navoiy: Branch) -> None:
    # employee_key ("unassigned") keeps the nullable FK out of the unique index: MongoDB's unique
    # indexes skip documents with a null field, so (date, branch, employee=None) would not be unique.
    history(navoiy)
    # atomic(): a savepoint on SQLite (the test's transaction stays usable), a no-op on MongoDB.
    with pytest.raises(IntegrityError), transaction.atomic():
        history(navoiy)
    assert DailySalesHistory.objects.filter(branch=navoiy, employee_key="unassigned").count() == 1


def test_one_history_row_per_day_branch_and_employee_also_by_bulk_create(navoiy: Branch, aziz: Employee) -> None:
    history(navoiy, aziz)
    duplicate = DailySalesHistory(date=DAY, branch=navoiy, employee=aziz, employee_key=str(aziz.pk))
    with pytest.raises(IntegrityError), transaction.atomic():
        DailySalesHistory.objects.bulk_create([duplicate])
    assert DailySalesHistory.objects.count() == 1


def test_unique_fields_reject_duplicates(navoiy: Branch) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Branch.objects.create(name=navoiy.name)
    SyncGate.objects.create(key="sync")
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncGate.objects.create(key="sync")
    assert Branch.objects.count() == 1


def test_get_or_create_returns_the_existing_row(navoiy: Branch) -> None:
    # get_or_create relies on IntegrityError + a savepoint; without transactions it must still work.
    branch, created = Branch.objects.get_or_create(name=navoiy.name, defaults={"code": "X"})
    assert (branch.pk, created, branch.code) == (navoiy.pk, False, "NAV")


def test_positive_integers_are_validated_by_the_model_not_only_the_database(navoiy: Branch) -> None:
    run = SyncRun(trigger="user", date_from=DAY, date_to=DAY, requests_made=-1)
    # SQLite has a CHECK constraint for PositiveIntegerField; MongoDB has none (no check constraints).
    # full_clean() is what refuses a negative value on both.
    with pytest.raises(ValidationError):
        run.full_clean()


# --- field round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    # Up to 15 significant digits: ten trillion UZS with tiyin, well above a month of a big branch.
    ["9999999999999.99", "-9999999999999.99", "1234567.50", "0.01", "0.10", "-0.01", "100", "0"],
)
def test_decimal_round_trip_is_exact(navoiy: Branch, amount: str) -> None:
    row = history(navoiy, total_sales=Decimal(amount))
    stored = DailySalesHistory.objects.get(pk=row.pk).total_sales
    assert stored == Decimal(amount)
    assert isinstance(stored, Decimal)
    assert DailySalesHistory.objects.filter(total_sales=Decimal(amount)).count() == 1


def test_eighteen_digit_amounts_are_exact_on_mongodb_only(navoiy: Branch, on_mongodb: bool) -> None:
    amount = Decimal("1234567890123456.78")  # max_digits=18
    row = history(navoiy, total_sales=amount)
    stored = DailySalesHistory.objects.get(pk=row.pk).total_sales
    if on_mongodb:
        assert stored == amount  # Decimal128: 34 significant digits
    else:
        # SQLite keeps DECIMAL as REAL (a double): beyond 15 significant digits it rounds.
        assert stored != amount and abs(stored - amount) < 10


def test_decimal_sums_and_f_updates_are_exact(navoiy: Branch, gijduvon: Branch) -> None:
    for days in range(10):
        history(navoiy, day=DAY - dt.timedelta(days=days), retail_sales=Decimal("0.10"))
    history(gijduvon, retail_sales=Decimal("9999999999999.98"))
    assert DailySalesHistory.objects.filter(branch=navoiy).aggregate(s=Sum("retail_sales"))["s"] == Decimal("1.00")
    DailySalesHistory.objects.filter(branch=gijduvon).update(retail_sales=F("retail_sales") + Decimal("0.01"))
    assert DailySalesHistory.objects.get(branch=gijduvon).retail_sales == Decimal("9999999999999.99")


def test_exchange_rate_keeps_six_decimal_places(navoiy: Branch) -> None:
    fact = SalesFact.objects.create(
        source_kind="cheque", regos_id="c-1", business_date=DAY, occurred_at=timezone.now(), stock_id=2**53 + 1,
        sale_type="retail", amount=Decimal("12.50"), doc_amount=Decimal("1.00"), exchange_rate=Decimal("12650.123456"),
        status="closed",
    )
    fact = SalesFact.objects.get(pk=fact.pk)
    assert fact.exchange_rate == Decimal("12650.123456")
    assert fact.stock_id == 2**53 + 1  # BigIntegerField: int64, beyond a double's exact range


def test_sums_of_nothing_and_of_nulls_are_coalesced(navoiy: Branch, on_mongodb: bool) -> None:
    empty = DailySalesHistory.objects.filter(branch=navoiy)
    assert empty.aggregate(s=Sum("total_sales"))["s"] is None
    assert empty.aggregate(s=Coalesce(Sum("total_sales"), Value(Decimal(0))))["s"] == 0
    SalesFact.objects.create(
        source_kind="cheque", regos_id="c-1", business_date=DAY, occurred_at=timezone.now(), stock_id=1,
        sale_type="retail", amount=Decimal("1.00"), doc_amount=Decimal("1.00"), status="closed",
    )
    # Rows whose values are all NULL: SQL's SUM is NULL, MongoDB's $sum is 0. Coalesce for both.
    nulls = SalesFact.objects.aggregate(s=Sum("seller_id"), c=Coalesce(Sum("seller_id"), Value(0)))
    assert nulls["s"] == (0 if on_mongodb else None)
    assert nulls["c"] == 0


def test_date_field_round_trip_and_lookups(navoiy: Branch) -> None:
    days = [dt.date(2026, 1, 1), dt.date(2026, 2, 28), dt.date(2026, 12, 31), dt.date(2024, 2, 29)]
    for day in days:
        history(navoiy, day=day)
    assert sorted(DailySalesHistory.objects.values_list("date", flat=True)) == sorted(days)
    assert DailySalesHistory.objects.get(date=dt.date(2024, 2, 29)).date == dt.date(2024, 2, 29)
    in_2026 = DailySalesHistory.objects.filter(date__gte=dt.date(2026, 1, 1), date__lte=dt.date(2026, 12, 31))
    assert in_2026.count() == 3
    assert DailySalesHistory.objects.filter(date__year=2026, date__month=2).get().date == dt.date(2026, 2, 28)
    assert list(DailySalesHistory.objects.order_by("date").values_list("date", flat=True)) == sorted(days)
    assert DailySalesHistory.objects.filter(date__month=2).count() == 2
    assert DailySalesHistory.objects.filter(date__day=1, date__month=1).get().date == dt.date(2026, 1, 1)


def test_dates_of_a_date_field_are_not_shifted_by_the_time_zone(navoiy: Branch) -> None:
    # QuerySet.dates() feeds the admin's date_hierarchy; TIME_ZONE is Asia/Tashkent (UTC+5).
    days = [dt.date(2026, 1, 1), dt.date(2026, 11, 24), dt.date(2026, 11, 30), dt.date(2026, 12, 31)]
    for day in days:
        history(navoiy, day=day)
    rows = DailySalesHistory.objects
    assert list(rows.dates("date", "day")) == days
    assert list(rows.dates("date", "month")) == [dt.date(2026, 1, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)]
    assert list(rows.dates("date", "year")) == [dt.date(2026, 1, 1)]
    assert list(rows.dates("date", "week")) == [dt.date(2025, 12, 29), dt.date(2026, 11, 23), dt.date(2026, 11, 30),
                                                dt.date(2026, 12, 28)]


def test_datetime_round_trip_keeps_the_instant(navoiy: Branch, on_mongodb: bool) -> None:
    instant = dt.datetime(2026, 11, 24, 23, 59, 58, 123456, tzinfo=TASHKENT)
    run = SyncRun.objects.create(trigger="user", date_from=DAY, date_to=DAY, started_at=instant)
    stored = SyncRun.objects.get(pk=run.pk).started_at
    assert stored.utcoffset() is not None
    # MongoDB stores milliseconds: code must not compare stored datetimes at microsecond precision.
    expected = instant.replace(microsecond=123000) if on_mongodb else instant
    assert stored == expected
    assert SyncRun.objects.filter(started_at__gte=instant.replace(microsecond=0)).count() == 1


def test_business_day_of_a_datetime_by_range_works_on_both(navoiy: Branch, on_mongodb: bool) -> None:
    late_evening = dt.datetime(2026, 11, 24, 23, 30, tzinfo=TASHKENT)  # 18:30 UTC, still the 24th
    run = SyncRun.objects.create(trigger="user", date_from=DAY, date_to=DAY, started_at=late_evening)
    start = dt.datetime.combine(DAY, dt.time(), tzinfo=TASHKENT)
    in_day = SyncRun.objects.filter(started_at__gte=start, started_at__lt=start + dt.timedelta(days=1))
    assert list(in_day) == [run]
    # `started_at__date=...` is TruncDate with the current time zone: django-mongodb-backend refuses
    # it for any zone but UTC. Use a range like above.
    if on_mongodb:
        with pytest.raises(NotSupportedError):
            list(SyncRun.objects.filter(started_at__date=DAY))
    else:
        assert list(SyncRun.objects.filter(started_at__date=DAY)) == [run]


def test_auto_now_fields(navoiy: Branch) -> None:
    before = timezone.now() - dt.timedelta(seconds=1)
    branch = Branch.objects.get(pk=navoiy.pk)
    assert branch.created_at >= before and branch.updated_at >= branch.created_at
    first_update = branch.updated_at
    branch.code = "NV"
    branch.save()
    assert Branch.objects.get(pk=navoiy.pk).updated_at >= first_update


def test_json_field_defaults_and_round_trip(navoiy: Branch) -> None:
    run = SyncRun.objects.create(trigger="user", date_from=DAY, date_to=DAY)
    run = SyncRun.objects.get(pk=run.pk)
    assert run.progress == []
    run.progress.append({"date": "2026-11-24", "state": "done", "documents": 12, "amount": "1.50", "ok": True})
    run.save(update_fields=["progress"])
    again = SyncRun.objects.create(trigger="user", date_from=DAY, date_to=DAY)
    # default=list is a callable: no row shares another's list.
    assert SyncRun.objects.get(pk=again.pk).progress == []
    assert SyncRun.objects.get(pk=run.pk).progress == [
        {"date": "2026-11-24", "state": "done", "documents": 12, "amount": "1.50", "ok": True}
    ]


# --- keys and relations ----------------------------------------------------------------------------


def raw_document(model: type, pk: str) -> dict:
    """The stored row/document as the other side sees it (column names, stored types)."""
    table = model._meta.db_table
    if connection.vendor == "mongodb":
        from bson import ObjectId

        return connection.database[table].find_one({"_id": ObjectId(pk)})
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{table}" WHERE "_id" = %s', [pk])  # noqa: S608
        names = [column[0] for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def test_object_id_primary_keys_and_camel_case_links(navoiy: Branch, aziz: Employee, on_mongodb: bool) -> None:
    assert isinstance(navoiy.pk, str)
    assert len(navoiy.pk) == 24
    assert int(navoiy.pk, 16) >= 0
    assert Branch.objects.get(pk=navoiy.pk) == navoiy
    assert list(Branch.objects.filter(pk__in=[navoiy.pk, "0" * 24])) == [navoiy]
    assert Employee.objects.get(branch_id=navoiy.pk) == aziz
    row = history(navoiy, aziz)
    assert row.employee_key == aziz.pk  # one spelling of a key everywhere
    assert DailySalesHistory.objects.get(employee_key=aziz.pk).employee == aziz
    assert isinstance(Branch.objects.values_list("pk", flat=True).get(), str)
    stored = raw_document(DailySalesHistory, row.pk)
    employee = raw_document(Employee, aziz.pk)
    if on_mongodb:
        from bson import ObjectId

        # What mongoose's populate('branchId') follows: an ObjectId equal to the branch's _id.
        assert stored["_id"] == ObjectId(row.pk)
        assert stored["branchId"] == ObjectId(navoiy.pk)
        assert stored["employeeId"] == ObjectId(aziz.pk)
        assert employee["branchId"] == ObjectId(navoiy.pk)
        assert "id" not in stored and "branch_id" not in stored
    else:
        assert (stored["_id"], stored["branchId"], stored["employeeId"]) == (row.pk, navoiy.pk, aziz.pk)
        assert employee["branchId"] == navoiy.pk
    assert stored["employeeKey"] == aziz.pk


def test_a_bad_key_is_a_validation_error_not_a_crash(navoiy: Branch) -> None:
    with pytest.raises(ValidationError):
        Branch.objects.get(pk="not-an-object-id")
    assert not Branch.objects.filter(pk="0123456789abcdef01234567").exists()


def test_user_and_other_django_models_get_working_keys(admin_user, navoiy: Branch) -> None:  # noqa: ANN001
    user = get_user_model().objects.get(pk=admin_user.pk)
    assert get_user_model().objects.get(pk=str(user.pk)) == user
    run = SyncRun.objects.create(trigger="user", date_from=DAY, date_to=DAY, triggered_by=user, branch=navoiy)
    assert SyncRun.objects.select_related("triggered_by").get(pk=run.pk).triggered_by.username == "admin"


def test_select_related_ordered_by_a_related_field(navoiy: Branch, gijduvon: Branch, aziz: Employee,
                                                   bobur: Employee) -> None:
    # The admin's history changelist: ordering=["-date", "branch__name"] with list_select_related.
    history(navoiy, aziz)
    history(gijduvon, bobur)
    history(navoiy)
    rows = list(DailySalesHistory.objects.select_related("branch", "employee").order_by("-date", "branch__name"))
    assert [row.branch.name for row in rows] == [gijduvon.name, navoiy.name, navoiy.name]
    assert {row.employee.full_name if row.employee else None for row in rows} == {None, aziz.full_name, bobur.full_name}


def test_values_and_annotations_across_relations(navoiy: Branch, gijduvon: Branch, aziz: Employee,
                                                 bobur: Employee) -> None:
    history(navoiy, aziz, total_sales=Decimal("10.00"))
    history(navoiy, total_sales=Decimal("2.50"))
    history(gijduvon, bobur, total_sales=Decimal("7.00"))
    per_branch = (
        DailySalesHistory.objects.values("branch").annotate(total=Sum("total_sales"), rows=Count("id")).order_by()
    )
    assert {(r["branch"], r["total"], r["rows"]) for r in per_branch} == {
        (navoiy.pk, Decimal("12.50"), 2), (gijduvon.pk, Decimal("7.00"), 1)
    }
    names = set(DailySalesHistory.objects.values_list("branch__name", flat=True))
    assert names == {navoiy.name, gijduvon.name}
    assert Branch.objects.annotate(people=Count("employees")).get(pk=navoiy.pk).people == 1
    assert Employee.objects.filter(branch__name__icontains="navoiy").get() == aziz
    assert DailySalesHistory.objects.filter(Q(employee__isnull=True) | Q(employee=bobur)).count() == 2


def test_set_null_and_cascade(navoiy: Branch, aziz: Employee) -> None:
    history(navoiy, aziz)
    aziz.delete()
    row = DailySalesHistory.objects.get()
    assert row.employee is None
    navoiy.delete()
    assert DailySalesHistory.objects.count() == 0


def test_conditional_update_reports_matched_rows() -> None:
    # SyncGate and run claims are taken by conditional updates; the row count is the claim.
    SyncGate.objects.create(key="sync")
    assert SyncGate.objects.filter(key="sync", holder="").update(holder="token-a") == 1
    assert SyncGate.objects.filter(key="sync", holder="").update(holder="token-b") == 0
    assert SyncGate.objects.get(key="sync").holder == "token-a"
    # Setting the value it already has still counts as one row on both databases.
    assert SyncGate.objects.filter(key="sync").update(holder="token-a") == 1


def test_update_or_create_and_bulk_create(navoiy: Branch) -> None:
    row, created = DailySalesHistory.objects.update_or_create(
        date=DAY, branch=navoiy, employee_key="unassigned", defaults={"total_sales": Decimal("5.00")}
    )
    assert created
    row, created = DailySalesHistory.objects.update_or_create(
        date=DAY, branch=navoiy, employee_key="unassigned", defaults={"total_sales": Decimal("6.00")}
    )
    assert not created and DailySalesHistory.objects.get().total_sales == Decimal("6.00")
    Employee.objects.bulk_create([Employee(full_name=f"Sotuvchi {i}", branch=navoiy) for i in range(5)])
    assert Employee.objects.filter(branch=navoiy).count() == 5


# --- admin on both ----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [Branch, Employee, DailySalesHistory], ids=lambda m: m.__name__)
def test_payroll_changelists_with_rows_search_filter_and_date_hierarchy(
    client, admin_user, navoiy: Branch, aziz: Employee, model  # noqa: ANN001
) -> None:
    history(navoiy, aziz, total_sales=Decimal("1234567.50"))
    history(navoiy, day=DAY - dt.timedelta(days=40))
    client.force_login(admin_user)
    url = reverse(f"admin:payroll_{model._meta.model_name}_changelist")
    page = client.get(url)
    assert page.status_code == 200
    assert navoiy.name in page.content.decode() or aziz.full_name in page.content.decode()
    search = client.get(url, {"q": "navoiy" if model is not Employee else "toshmatov"})
    assert search.status_code == 200
    assert search.context["cl"].result_count >= 1
    if model is DailySalesHistory:
        # date_hierarchy ($dateTrunc on MongoDB) links the right days, and a branch filter.
        month = client.get(url, {"date__year": "2026", "date__month": "11"})
        assert month.context["cl"].result_count == 1
        assert "?date__day=24&amp;date__month=11&amp;date__year=2026" in month.content.decode()
        day = client.get(url, {"date__year": "2026", "date__month": "11", "date__day": "24"})
        assert day.context["cl"].result_count == 1
        by_branch = client.get(url, {"branch__id__exact": str(navoiy.pk)})
        assert by_branch.context["cl"].result_count == 2


def test_group_add_page_lists_permissions_with_their_content_type(client, admin_user) -> None:  # noqa: ANN001
    client.force_login(admin_user)
    page = client.get(reverse("admin:auth_group_add"))
    assert page.status_code == 200
    assert "Branch" in page.content.decode() or "branch" in page.content.decode()


# --- live server (separate thread, own connection) ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_live_server_sees_the_tests_rows_and_logs_in(live_server) -> None:  # noqa: ANN001
    get_user_model().objects.create_superuser("boss", "boss@example.invalid", "boss-pass-123")
    Branch.objects.create(name="Buxoro filiali")
    session = requests.Session()
    login_url = live_server.url + reverse("admin:login")
    session.get(login_url, timeout=30)
    response = session.post(
        login_url,
        data={"username": "boss", "password": "boss-pass-123", "csrfmiddlewaretoken": session.cookies["csrftoken"],
              "next": reverse("admin:payroll_branch_changelist")},
        headers={"Referer": login_url},
        timeout=30,
    )
    assert response.status_code == 200
    assert "Buxoro filiali" in response.text


# --- django-q2: the ORM broker on the test database with a real qcluster --------------------------


def q_probe(name: str) -> str:
    """A task for the qcluster: writes a row, so the worker provably uses the same database."""
    Branch.objects.create(name=name)
    return f"created {name}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_async_task_is_processed_by_a_real_qcluster(tmp_path: Path, test_database_url: str) -> None:
    from django_q.models import OrmQ, Task
    from django_q.tasks import async_task, fetch

    task_id = async_task("tests.test_mongodb.q_probe", "Qarshi filiali", sync=False)
    assert OrmQ.objects.count() == 1  # queued in the database (the ORM broker)

    log = tmp_path / "qcluster.log"
    env = {**os.environ, "DATABASE_URL": test_database_url, "DJANGO_Q_WORKERS": "1"}
    with log.open("wb") as out:
        worker = start_group([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, log=out)
    try:
        deadline = time.monotonic() + 120  # a bound, not an expectation: it usually takes seconds
        task = None
        while time.monotonic() < deadline and worker.poll() is None:
            task = fetch(task_id)
            if task is not None:
                break
            time.sleep(0.5)
        assert task is not None, "qcluster did not process the task:\n" + log.read_text(errors="replace")[-4000:]
        assert task.success, task.result
        assert task.result == "created Qarshi filiali"
        assert Branch.objects.filter(name="Qarshi filiali").exists()
        assert Task.objects.filter(id=task_id).exists()
        assert OrmQ.objects.count() == 0
    finally:
        stop_group(worker, wait=60)
    assert worker.returncode is not None


# --- documents the Node payroll system created ------------------------------------------------------


@pytest.mark.parametrize(("stored", "read"), [
    (5000000, Decimal("5000000.00")), (0.1, Decimal("0.10")), (1234567.89, Decimal("1234567.89")),
    (None, None), ("12.5", Decimal("12.50")), ("n/a", None),
])
def test_money_is_read_from_whatever_another_writer_stored(stored: object, read: Decimal | None) -> None:
    from bson import Decimal128

    from payroll.fields import money_from_db

    assert money_from_db(stored) == read
    if read is not None:
        assert money_from_db(Decimal128(str(read))) == read


def test_node_created_documents_are_read_updated_by_id_and_keep_their_fields(on_mongodb: bool,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from sync.engine import history as sync_history

    monkeypatch.setattr(sync_history, "today", lambda: DAY)
    if on_mongodb:
        from bson import ObjectId

        # As mongoose writes them: a name, Number money, fields of its own, nothing else.
        branch_id = connection.database["branches"].insert_one(
            {"name": "Node filiali", "manager": "Dilnoza", "retailSales": 5000000, "wholesaleSales": 0.1}
        ).inserted_id
        employee_id = connection.database["employees"].insert_one({"name": "Hisobchi", "position": "x"}).inserted_id
        connection.database["dailysaleshistories"].insert_one(
            {"branchId": branch_id, "date": dt.datetime(2026, 11, 24), "retailSales": 7, "note": "own"}
        )
        branch = Branch.objects.get(pk=str(branch_id))
        assert (branch.retail_sales, branch.wholesale_sales, branch.total_sales) == (
            Decimal("5000000.00"), Decimal("0.10"), Decimal("0.00")
        )
        assert str(Employee.objects.get(pk=str(employee_id))) == f"#{employee_id}"
    else:
        branch = Branch.objects.create(name="Node filiali", retail_sales=Decimal("5000000.00"))
    history(branch, retail_sales=Decimal("100.00"), retail_returns=Decimal("1.00"), total_sales=Decimal("99.00"))
    sync_history.totals_recompute()  # the sync's last step: must not stumble over a foreign document
    branch.refresh_from_db()
    assert (branch.retail_sales, branch.total_sales) == (Decimal("99.00"), Decimal("99.00"))  # the own row only
    assert DailySalesHistory.objects.count() == 1
    if on_mongodb:
        stored = connection.database["branches"].find_one({"_id": ObjectId(branch.pk)})
        assert stored["manager"] == "Dilnoza"  # $set of our fields: theirs survive
        assert connection.database["employees"].find_one({"_id": employee_id})["position"] == "x"
        assert connection.database["dailysaleshistories"].count_documents({"note": "own", "retailSales": 7}) == 1
        assert Branch.objects.filter(name="Node filiali").count() == 1


def test_a_history_row_updated_by_a_resync_keeps_its_object_id_links(
    navoiy: Branch, aziz: Employee, on_mongodb: bool
) -> None:
    """A day written, then re-written with another amount (the update path, not an insert): the stored
    ``employeeId`` is still the employee's ObjectId — bulk_update's CASE would store it as a string."""
    from sync.engine.documents import FactRow
    from sync.engine.history import Mappings, history_day_rebuild
    from sync.models import SellerMapping, StockMapping

    StockMapping.objects.create(regos_stock_id=3, branch=navoiy)
    SellerMapping.objects.create(regos_user_id=17, employee=aziz)
    at = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)

    def cheque(amount: str) -> FactRow:
        return FactRow(
            source_kind="cheque", regos_id="c-1", code="1", business_date=DAY, occurred_at=at, stock_id=3,
            session_uuid="s-1", operating_cash_id=7, seller_id=17, cashier_id=17, attached_user_id=None,
            sale_type="retail", is_return=False, amount=Decimal(amount), doc_amount=Decimal(amount),
            currency="UZS", exchange_rate=Decimal("1.000000"), status="Closed", last_update=None,
        )

    first = history_day_rebuild(day=DAY, mappings=Mappings.load(), facts=[cheque("1000.00")])
    second = history_day_rebuild(day=DAY, mappings=Mappings.load(), facts=[cheque("2500.50")])
    assert (first.inserted, second.updated) == (1, 1)
    row = DailySalesHistory.objects.get(date=DAY)
    assert (row.retail_sales, row.employee_id) == (Decimal("2500.50"), aziz.pk)
    stored = raw_document(DailySalesHistory, row.pk)
    if on_mongodb:
        from bson import ObjectId

        assert stored["employeeId"] == ObjectId(aziz.pk) and stored["branchId"] == ObjectId(navoiy.pk)
    else:
        assert (stored["employeeId"], stored["branchId"]) == (aziz.pk, navoiy.pk)

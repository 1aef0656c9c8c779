"""Hostile input on every form and endpoint: never a 500, never a partial write, never reflected markup.

Each test snapshots every table (``web.snapshot``) before and after, so "refused" also means "wrote
nothing". Requests go through Django's test client as a logged-in superuser (the widest view of the
panel) unless said otherwise; ``raise_request_exception=False`` turns a crash into the 500 it would be.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from payroll.dates import today
from payroll.models import Branch, DailySalesHistory, Employee
from sync.models import SellerMapping, StockMapping, SyncRun
from tests.reliability import web
from tests.reliability.support import Record

pytestmark = pytest.mark.django_db

FUZZ = hypothesis_settings(max_examples=25, deadline=None, derandomize=True,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NASTY = [
    "garbage", "", " ", "2026-02-30", "2026-13-01", "99999-01-01", "0000-00-00", "-1", "1e309", "NaN",
    "2026-11-01' OR '1'='1", "<script>alert(1)</script>", "\x00", "２０２６-１１-０１", "2026-11-01T00:00:00",
    "x" * 5000, "%00", "../../etc/passwd", "{{7*7}}", "${jndi:ldap://x}",
    "9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01",
]
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def browser(admin_user) -> Client:  # type: ignore[no-untyped-def]
    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(admin_user)
    return client


@pytest.fixture
def sales(db):  # type: ignore[no-untyped-def]
    """A branch and employee with hostile names (markup, a spreadsheet formula) and a few history rows."""
    branch = Branch.objects.create(name=f"{SCRIPT} filiali", code="X")
    formula = Employee.objects.create(full_name='=HYPERLINK("http://evil.example","pul")', branch=branch)
    plus = Employee.objects.create(full_name="+cmd|' /C calc'!A0", branch=branch)
    StockMapping.objects.create(regos_stock_id=77, regos_name=SCRIPT, branch=branch)
    SellerMapping.objects.create(regos_user_id=78, full_name=SCRIPT, employee=formula)
    day = today() - timedelta(days=1)
    for employee in (formula, plus, None):
        DailySalesHistory.objects.create(date=day, branch=branch, employee=employee,
                                         retail_sales=Decimal("1000.00"), total_sales=Decimal("1000.00"))
    return branch


# --- Sync now -------------------------------------------------------------------------------------


def test_sync_now_refuses_bad_ranges_clearly_and_writes_nothing(browser, settings, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Hostile input", f"Sync now with {len(NASTY) * 2 + 4} bad date pairs (garbage, reversed, 10-year, "
           "future, injection, 5000 chars, NUL, fullwidth digits)",
           "200 with a form error (the limit stated), no run, no 500")
    settings.REGOS_SYNC_MAX_DAYS = 366
    now = today()
    cases = [({"date_from": bad, "date_to": now.isoformat()}, None) for bad in NASTY]
    cases += [({"date_from": now.isoformat(), "date_to": bad}, None) for bad in NASTY]
    cases += [
        ({"date_from": now.isoformat(), "date_to": (now - timedelta(days=3)).isoformat()}, "before the start date"),
        ({"date_from": (now - timedelta(days=3650)).isoformat(), "date_to": now.isoformat()},
         "at most 366 days can be synced at once"),
        ({"date_from": now.isoformat(), "date_to": (now + timedelta(days=1)).isoformat()}, "in the future"),
        ({}, "This field is required"),
    ]
    before = web.snapshot()
    for data, message in cases:
        response = browser.post("/sync/now/", data)
        assert response.status_code == 200, (data, response.status_code)
        page = response.content.decode()
        assert 'class="errorlist' in page or 'class="errornote"' in page, data
        if message:
            assert message in page, (message, data)
        assert SCRIPT not in page
    assert web.snapshot() == before and not SyncRun.objects.exists()
    record.saw(f"{len(cases)} bad inputs → 200 with the form error (e.g. “The range has 3650 days; at most 366 "
               "days can be synced at once.”), 0 runs created")


# --- mapping forms ----------------------------------------------------------------------------------


def test_mapping_forms_refuse_bad_targets_and_foreign_redirects(browser, sales, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Hostile input", "mapping forms: bad/unknown branch and employee ids, huge REGOS ids, unknown "
           "stocks, off-site `next` (//evil, https://evil, javascript:)",
           "a message, nothing mapped, redirects stay on the site, markup escaped")
    before = web.snapshot()
    # ("" would be legitimate: it unmaps.)
    bad_targets = ["not-a-uuid", "00000000-0000-0000-0000-000000000000", *(v for v in NASTY[:10] if v.strip())]
    for value in bad_targets:
        for url, field in (("/sync/mappings/stocks/77/", "branch"), ("/sync/mappings/users/78/", "employee")):
            response = browser.post(url, {field: value})
            assert response.status_code == 302, (url, value, response.status_code)
            assert urlsplit(response["Location"]).netloc == ""
    for url in ("/sync/mappings/stocks/99999999999999999999999/", "/sync/mappings/users/9223372036854775808/",
                "/sync/mappings/stocks/123456/", "/sync/mappings/users/-5/"):
        response = browser.post(url, {"branch": "", "employee": ""})
        assert response.status_code in (302, 404), (url, response.status_code)
    for evil in ("//evil.example/", "https://evil.example/", "javascript:alert(1)", "\\\\evil.example",
                 "/\\evil.example"):
        response = browser.post("/sync/mappings/stocks/77/", {"branch": "not-a-uuid", "next": evil})
        assert response.status_code == 302
        location = response["Location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), (evil, location)
    assert web.snapshot() == before
    for page in ("/sync/mappings/", "/sync/mappings/unmapped/", "/sync/stockmapping/", "/payroll/branch/"):
        body = browser.get(page).content.decode()
        assert SCRIPT not in body, page
    assert "&lt;script&gt;" in browser.get("/sync/mappings/").content.decode()
    record.saw(f"{len(bad_targets) * 2} bad targets and 4 bad ids refused (302 + message / 404); 5 off-site "
               "`next` values → local redirect; database unchanged; names escaped")


# --- reports and exports -----------------------------------------------------------------------------

REPORT_URLS = ["/reports/history/", "/reports/summary/", "/reports/export.csv", "/reports/export.xlsx"]


def test_report_and_export_parameters_never_crash(browser, sales, record: Record) -> None:  # type: ignore[no-untyped-def]
    params = ["date_from", "date_to", "branch", "employee", "sale_type", "page", "month"]
    record("Hostile input", f"history, summary and both exports with {len(NASTY[::2])} bad values in each of "
           f"{len(params)} parameters, reversed and 10-year ranges, repeated and unknown parameters",
           "200 (value ignored/defaulted) or 400 with the form's message; never 500, never a file for bad input")
    before = web.snapshot()
    now = today()
    queries = [f"{name}={quote(bad)}" for name in params for bad in NASTY[::2]]
    queries += [
        f"date_from={now}&date_to={now - timedelta(days=5)}", f"date_from={now - timedelta(days=3650)}&date_to={now}",
        "date_from=2026-11-01&date_from=2026-10-01", "unknown=1&__proto__=x", "sale_type=retail&sale_type=evil",
    ]
    statuses: dict[int, int] = {}
    for url in REPORT_URLS:
        for query in queries:
            response = browser.get(f"{url}?{query}")
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code in (200, 400), (url, query, response.status_code)
            if response.status_code == 400:
                assert response["Content-Type"].startswith("text/html")  # the form, not an export
            if not response.streaming and response["Content-Type"].startswith("text/html"):
                assert SCRIPT not in response.content.decode()
    assert web.snapshot() == before
    record.saw(f"{len(REPORT_URLS) * len(queries)} requests → {dict(sorted(statuses.items()))}; no 500; "
               "database unchanged")


def test_exports_never_carry_a_spreadsheet_formula(browser, sales, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Hostile input", "names that are spreadsheet formulas (`=HYPERLINK(…)`, `+cmd|…`) in CSV and XLSX "
           "exports", "exported as text: CSV cell starts with ', XLSX cell is a string, no <f>")
    day = today() - timedelta(days=1)
    csv_text = b"".join(browser.get(f"/reports/export.csv?date_from={day}&date_to={day}")).decode()
    cells = [line.split(",") for line in csv_text.splitlines()[1:]]
    employees = {row[2].strip('"') for row in cells}
    assert all(not name.startswith(("=", "+", "-", "@")) for name in employees), employees
    assert {"'=HYPERLINK(\"\"http://evil.example\"\"", "'+cmd|' /C calc'!A0"} & employees or any(
        name.startswith("'=") for name in employees
    ), employees
    xlsx = browser.get(f"/reports/export.xlsx?date_from={day}&date_to={day}")
    with zipfile.ZipFile(io.BytesIO(b"".join(xlsx.streaming_content))) as book:
        sheet = next(book.read(n) for n in book.namelist() if n.startswith("xl/worksheets/")).decode()
    assert "<f>" not in sheet and "HYPERLINK" in sheet
    record.saw("CSV: `'=HYPERLINK(…)`, `'+cmd|…`; XLSX: inline strings, no formula element")


def test_hostile_name_cells_start_no_formula_in_any_piece(browser, sales, record: Record) -> None:  # type: ignore[no-untyped-def]
    from payroll.exports import safe_text
    from tests.fixtures.hostile import formula_pieces, hostile_cells

    cells = hostile_cells()
    record("Hostile input", f"{len(cells)} hostile name cells (issue 15, item 8: `;=`, `,=`, a formula behind "
           "blanks, an NBSP, a tab or a newline); a sample as employee names through the CSV export over HTTP, "
           "the file split on `;`, `,` and line breaks as a ru/uz Excel would",
           "no piece starts a formula after blanks and quotes are stripped")
    live = [cell for cell in cells if formula_pieces(safe_text(cell))]
    sample = cells[::12]
    day = today() - timedelta(days=2)
    for number, name in enumerate(sample):
        employee = Employee.objects.create(full_name=name, branch=sales)
        DailySalesHistory.objects.create(date=day, branch=sales, employee=employee, retail_sales=Decimal(number),
                                         total_sales=Decimal(number))
    text = b"".join(browser.get(f"/reports/export.csv?date_from={day}&date_to={day}")).decode()
    pieces = [re.sub(r'^[\s"]*', "", piece) for piece in re.split(r"[;,\n\r]", text)]
    exported = [piece for piece in pieces if piece.startswith(("=", "+", "-", "@"))]
    assert text.count("\n") >= len(sample)
    assert live == [] and exported == [], (live[:3], exported[:3])
    record.count(inputs=len(cells) + len(sample), formulas_left=len(live) + len(exported))
    record.saw(f"{len(cells)} cells neutralised by the export function, {len(sample)} exported over HTTP: "
               f"{len(live) + len(exported)} pieces left that start a formula")


# --- admin changelists ---------------------------------------------------------------------------------

CHANGELIST_QUERIES = [
    "date__gte=garbage", "o=999", "o=-1.x.2", "o=1.1.1.1.1.1", f"q={quote(SCRIPT)}", "q=%00", "q=(%5B*",
    "q=" + "a" * 3000, "unknown=1", "p=-1", "p=abc", "p=99999", "e=1", "all=", "_to_field=password",
    "created_at__gte=2026-99-99", "business_date__gte=garbage", "status__exact=%3Csvg%3E",
    "branch__id__exact=not-a-uuid", "date__year=abc", "date__month=13", "branch__isnull=maybe",
    "employee__isnull=True", "_changelist_filters=a%3Db", "id__in=1,2,x",
]


def test_admin_changelists_survive_hostile_query_strings(browser, sales, record: Record) -> None:  # type: ignore[no-untyped-def]
    models = list(admin.site._registry)
    record("Hostile input", f"{len(CHANGELIST_QUERIES)} hostile query strings (`?date__gte=garbage`, `?o=999`, "
           f"`?q=<script>`, unknown params, …) on all {len(models)} admin changelists",
           "200 or the admin's ?e=1 redirect; never 500; never reflected markup")
    before = web.snapshot()
    statuses: dict[int, int] = {}
    for model in models:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for query in CHANGELIST_QUERIES:
            response = browser.get(f"{url}?{query}")
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code in (200, 302, 400, 404), (url, query, response.status_code)
            if response.status_code == 302:
                assert urlsplit(response["Location"]).netloc == ""
            assert SCRIPT not in response.content.decode(), (url, query)
    for url in ("/reports/history/not-a-day/00000000-0000-0000-0000-000000000000/x/",
                f"/reports/history/2026-11-01/{sales.pk}/not-a-uuid/", "/payroll/branch/not-a-uuid/change/",
                "/sync/syncrun/%00/change/", "/sync/salesfact/1%27%20OR%201=1/change/"):
        assert browser.get(url).status_code in (302, 404), url
    assert web.snapshot() == before
    found = browser.get("/sync/stockmapping/?q=77").content.decode()  # the REGOS id search still works
    assert "/sync/stockmapping/" in found and ">77<" in found
    record.saw(f"{len(models) * len(CHANGELIST_QUERIES)} requests → {dict(sorted(statuses.items()))}; "
               "no 500, no reflected <script>; bad object URLs → 302/404")


# --- the inputs that gave a 500 (issue 15, item 4) ---------------------------------------------------

EXTREME_DAYS = ["9999-12-31", "9999-12-30", "0001-01-01", "0001-01-02", "1999-12-31", "2101-01-01"]


def test_extreme_dates_bad_object_ids_and_hostile_webhooks_are_4xx(  # type: ignore[no-untyped-def]
    browser, sales, settings, record: Record
) -> None:
    from django.contrib.contenttypes.models import ContentType

    from sync.models import DirtyDay, WebhookEvent

    record("Hostile input", "the issue-15 500s: reports and both exports with dates at the ends of the calendar "
           "(`9999-12-31`, `0001-01-01`), the drill-down on them, `/r/<content type>/<not an id>/` for every "
           "model, webhook bodies with the right key nested 1,000–50,000 levels inside `data.data` and a lone "
           "surrogate in `data.data.uuid`", "4xx with a message; nothing written")
    settings.REGOS_INTEGRATION_KEY = "extreme0regos0reliability0key000"
    settings.REGOS_WEBHOOK_SECRET = ""
    before = web.snapshot()
    statuses: dict[int, int] = {}
    tried = errors = 0

    def seen(response, allowed: tuple[int, ...]) -> None:  # type: ignore[no-untyped-def]
        nonlocal tried, errors
        tried += 1
        errors += response.status_code >= 500
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in allowed, response.status_code

    for url in REPORT_URLS:
        for name in ("date_from", "date_to"):
            for day in EXTREME_DAYS:
                response = browser.get(f"{url}?{name}={day}")
                seen(response, (200, 400) if url == "/reports/summary/" else (400,))
                if response.status_code == 400:
                    assert "text/html" in response["Content-Type"]
        for day in EXTREME_DAYS:  # both ends at once
            seen(browser.get(f"{url}?date_from={day}&date_to={day}"),
                 (200, 400) if url == "/reports/summary/" else (400,))
    page = browser.get("/reports/history/?date_from=9999-12-31").content.decode()
    assert "Enter a date between 2000-01-01 and 2100-12-31." in page
    for day in EXTREME_DAYS:
        seen(browser.get(f"/reports/history/{day}/{sales.pk}/unassigned/"), (404,))

    for content_type in ContentType.objects.all():
        for bad in ("not-a-uuid", "1", "%00", "x" * 300):
            seen(browser.get(f"/r/{content_type.pk}/{bad}/"), (404,))
    staff = Client(raise_request_exception=False)
    staff.force_login(get_user_model().objects.create_user("plain-staff", is_staff=True))
    branch_type = ContentType.objects.get_for_model(Branch)
    seen(staff.get(f"/r/{branch_type.pk}/not-a-uuid/"), (404,))
    before = web.snapshot()  # the staff user above is the test's own write

    hook = Client(raise_request_exception=False)

    def event(inner: object) -> str:
        return json.dumps({
            "action": "HandleWebhook", "event_id": "ev-hostile", "occurred_at": "2026-11-20T10:00:00Z",
            "connected_integration_id": settings.REGOS_INTEGRATION_KEY,
            "data": {"action": "DocChequeClosed", "data": {"uuid": "u-1", "x": inner}},
        })

    bodies = []
    for depth in (40, 1000, 5000, 20000):
        bodies.append(event("__deep__").replace('"__deep__"', "[" * depth + "]" * depth))
        bodies.append(event("__deep__").replace('"__deep__"', '{"a":' * depth + "1" + "}" * depth))
    bodies.append(event("x").replace('"u-1"', '"\\ud800"'))
    bodies.append(event("\udfff-tail"))
    bodies.append(event("x").replace('"x"', '{"\\udc80": 1}'))
    for body in bodies:
        if len(body) > 64 * 1024:
            continue  # the 64 KiB cap answers first (413): the nesting never reaches the parser
        response = hook.post("/regos/webhook/", data=body, content_type="application/json")
        seen(response, (400,))
        assert response.json()["ok"] is False and response.json()["error"], response.content
    assert WebhookEvent.objects.count() == 0 and DirtyDay.objects.count() == 0
    after = web.snapshot()
    wrong = sum(1 for label in before if before[label] != after.get(label))
    assert wrong == 0
    record.count(inputs=tried, **{"5xx": errors}, wrong_writes=wrong)
    record.saw(f"{tried} requests → {dict(sorted(statuses.items()))}; no 500; database unchanged")


# --- fuzzing: the webhook and the report query strings --------------------------------------------------

anything = st.text(max_size=60) | st.sampled_from(NASTY)


def inbox_state() -> tuple:
    """What a webhook may write: the inbox, the dirty days, KeyValue (cursor)."""
    from sync.models import DirtyDay, KeyValue, WebhookEvent

    return (
        sorted(WebhookEvent.objects.values_list("event_id", flat=True)),
        sorted(DirtyDay.objects.values_list("date", flat=True)),
        sorted(KeyValue.objects.values_list("key", "value")),
    )


@pytest.fixture
def hook(db, settings):  # type: ignore[no-untyped-def]
    settings.REGOS_INTEGRATION_KEY = "fuzz0000regos0000reliability0key"
    settings.REGOS_WEBHOOK_SECRET = ""
    return Client(raise_request_exception=False)


def test_webhook_fuzz_never_500_and_writes_only_for_the_right_key(hook, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Hostile input", "webhook fuzz (hypothesis): random bodies, content types, methods, secret path "
           "segments, almost-valid envelopes with wrong keys", "never 500; nothing stored unless the key matches")
    seen: dict[int, int] = {}

    @FUZZ
    @given(
        body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
        content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1",
                                      "multipart/form-data; boundary=x", ""]),
        method=st.sampled_from(["post", "get", "put", "delete", "patch"]),
        path=st.sampled_from(["/regos/webhook/", "/regos/webhook/x/", "/regos/webhook/%2e%2e/",
                              "/regos/webhook/" + "s" * 300 + "/"]),
    )
    def raw(body: bytes, content_type: str, method: str, path: str) -> None:
        before = inbox_state()
        if method == "get":
            response = hook.get(path, {"q": body.decode("utf-8", "replace")})
        else:
            response = getattr(hook, method)(path, data=body, content_type=content_type)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.content[:200]
        assert inbox_state() == before

    @FUZZ
    @given(event_id=anything, occurred=anything, key=anything, action=anything)
    def envelope(event_id: str, occurred: str, key: str, action: str) -> None:
        before = inbox_state()
        response = hook.post("/regos/webhook/", content_type="application/json", data={
            "action": "HandleWebhook", "event_id": event_id, "occurred_at": occurred,
            "connected_integration_id": key, "data": {"action": action, "data": {"uuid": event_id}},
        })
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.content[:200]
        assert response.status_code != 200 and inbox_state() == before  # never the right key

    raw()
    envelope()
    record.saw(f"{sum(seen.values())} requests → {dict(sorted(seen.items()))}; no 500; nothing stored")


def test_report_query_string_fuzz_never_500(browser, sales, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Hostile input", "report query-string fuzz (hypothesis): random values for every filter of "
           "history, summary, both exports", "200 or 400; never 500")
    seen: dict[int, int] = {}

    @FUZZ
    @given(url=st.sampled_from(REPORT_URLS), values=st.dictionaries(
        st.sampled_from(["date_from", "date_to", "branch", "employee", "sale_type", "page", "month", "o"]),
        anything, max_size=4))
    def request(url: str, values: dict[str, str]) -> None:
        query = "&".join(f"{k}={quote(v)}" for k, v in values.items())
        response = browser.get(f"{url}?{query}")
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code in (200, 400), (url, query, response.status_code)

    request()
    record.saw(f"{sum(seen.values())} requests → {dict(sorted(seen.items()))}; no 500")

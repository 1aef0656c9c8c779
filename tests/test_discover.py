"""regos_discover: REGOS stocks and users with their mapping state; --create-missing is idempotent."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payroll.models import Branch, Employee
from sync import services
from sync.models import MappingAudit, SellerMapping, StockMapping
from sync.regos.emulator import Dataset

pytestmark = pytest.mark.django_db


def dataset() -> Dataset:
    ds = Dataset()
    ds.add_stock(id=1, name="Navoiy filiali")
    ds.add_stock(id=2, name="G'ijduvon filiali")
    ds.add_stock(id=3, name="Yangi do'kon")
    ds.add_stock(id=4, name="Eski ombor", deleted_mark=True)
    ds.add_user(id=17, full_name="Toshmatov Aziz", login="aziz")
    ds.add_user(id=9, full_name="Rahimov Bobur", login="bobur")
    ds.add_user(id=40, full_name="Olimov Sardor", login="sardor", active=False)
    return ds


@pytest.fixture
def regos(regos_server):  # type: ignore[no-untyped-def]
    return regos_server(dataset())


def states(result: services.DiscoverResult) -> tuple[list[tuple], list[tuple]]:
    return (
        [(s.regos_id, s.name, s.state, s.branch) for s in result.stocks],
        [(u.regos_id, u.full_name, u.state, u.employee) for u in result.users],
    )


def test_lists_stocks_and_users_with_their_mapping_state(regos, navoiy, gijduvon, aziz) -> None:  # type: ignore[no-untyped-def]
    StockMapping.objects.create(regos_stock_id=2, regos_name="old name", branch=gijduvon)

    result = services.regos_discover()

    assert states(result) == (
        [
            (1, "Navoiy filiali", "unmapped", ""),
            (2, "G'ijduvon filiali", "mapped", "G'ijduvon filiali"),
            (3, "Yangi do'kon", "unmapped", ""),
            (4, "Eski ombor", "unmapped", ""),
        ],
        [
            (9, "Rahimov Bobur", "unmapped", ""),
            (17, "Toshmatov Aziz", "unmapped", ""),
            (40, "Olimov Sardor", "unmapped", ""),
        ],
    )
    assert result.mappings_created == 3 + 3  # stocks 1, 3, 4 and all three users
    assert StockMapping.objects.get(regos_stock_id=2).regos_name == "G'ijduvon filiali"  # name refreshed
    assert StockMapping.objects.get(regos_stock_id=4).deleted_in_regos is True
    assert SellerMapping.objects.get(regos_user_id=40).active_in_regos is False
    assert (Branch.objects.count(), Employee.objects.count()) == (2, 1)  # nothing created without the flag


def test_create_missing_creates_or_links_and_is_idempotent(regos, navoiy, aziz) -> None:  # type: ignore[no-untyped-def]
    result = services.regos_discover(create_missing=True)

    assert states(result) == (
        [
            (1, "Navoiy filiali", "linked", "Navoiy filiali"),  # the existing branch of that name
            (2, "G'ijduvon filiali", "created", "G'ijduvon filiali"),
            (3, "Yangi do'kon", "created", "Yangi do'kon"),
            (4, "Eski ombor", "created", "Eski ombor"),
        ],
        [
            (9, "Rahimov Bobur", "created", "Rahimov Bobur"),
            (17, "Toshmatov Aziz", "linked", "Toshmatov Aziz"),  # the only employee of that name
            (40, "Olimov Sardor", "created", "Olimov Sardor"),
        ],
    )
    assert (result.branches_created, result.employees_created) == (3, 2)
    assert StockMapping.objects.get(regos_stock_id=1).branch == navoiy
    assert SellerMapping.objects.get(regos_user_id=17).employee == aziz
    assert Branch.objects.get(name="Eski ombor").is_active is False  # deleted in REGOS
    assert Employee.objects.get(full_name="Olimov Sardor").is_active is False  # inactive in REGOS
    assert MappingAudit.objects.count() == 4 + 3

    counts = (
        Branch.objects.count(),
        Employee.objects.count(),
        StockMapping.objects.count(),
        SellerMapping.objects.count(),
        MappingAudit.objects.count(),
    )
    again = services.regos_discover(create_missing=True)
    assert {s.state for s in again.stocks} == {"mapped"} and {u.state for u in again.users} == {"mapped"}
    assert (again.branches_created, again.employees_created, again.mappings_created) == (0, 0, 0)
    assert counts == (
        Branch.objects.count(),
        Employee.objects.count(),
        StockMapping.objects.count(),
        SellerMapping.objects.count(),
        MappingAudit.objects.count(),
    )


def test_command_prints_tables(regos_server) -> None:  # type: ignore[no-untyped-def]
    ds = Dataset()
    ds.add_stock(id=1, name="Navoiy filiali")
    ds.add_stock(id=3, name="Yangi do'kon")
    ds.add_user(id=17, full_name="Toshmatov Aziz", login="aziz")
    regos_server(ds)
    StockMapping.objects.create(regos_stock_id=1, branch=Branch.objects.create(name="Navoiy filiali"))

    out = StringIO()
    call_command("regos_discover", stdout=out)

    # Column widths by hand: ID 2, NAME 14 ("Navoiy filiali"), STATE 8 ("unmapped"), BRANCH 14.
    assert out.getvalue().splitlines() == [
        "REGOS stocks (department / store):",
        "  ID  NAME            STATE     BRANCH",
        "  --  --------------  --------  --------------",
        "  1   Navoiy filiali  mapped    Navoiy filiali",
        "  3   Yangi do'kon    unmapped  -",
        "REGOS users (sellers / cashiers):",
        "  ID  FULL NAME       LOGIN  STATE     EMPLOYEE",
        "  --  --------------  -----  --------  --------",
        "  17  Toshmatov Aziz  aziz   unmapped  -",
        "2 stocks (1 unmapped), 1 users (1 unmapped); created 0 branches, 0 employees, 2 new mapping rows; "
        "0 days re-aggregated.",
    ]

    out = StringIO()
    call_command("regos_discover", "--create-missing", stdout=out)
    assert out.getvalue().splitlines()[-1] == (
        "2 stocks (0 unmapped), 1 users (0 unmapped); created 1 branches, 1 employees, 0 new mapping rows; "
        "0 days re-aggregated."
    )


def test_rejected_key_is_one_line_without_the_key(regos, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REGOS_INTEGRATION_KEY = "wrongkey7777wrongkey7777wrongkey"
    with pytest.raises(CommandError) as caught:
        call_command("regos_discover", stdout=StringIO())
    message = str(caught.value)
    assert "\n" not in message and "wrongkey7777" not in message
    assert "REGOS key rejected" in message

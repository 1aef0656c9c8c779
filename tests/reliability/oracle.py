"""The clean oracle: what facts, history and totals MUST be, computed from the emulator's data alone.

Nothing here calls the sync engine. The rules are re-implemented by hand from the README and
``shared/reference/regos-api.md`` §5.8 so that a bug in the engine cannot hide in its own oracle:

- a fact per closed cheque, per performed and not delete-marked shipment / return, dated on the
  Asia/Tashkent calendar day of the document time; a cheque's stock is its cash session's register's
  stock (asked of the emulator's own data, not of the engine's locator);
- wholesale in a foreign currency is worth amount × the document's exchange rate, rounded once to
  2 places half up;
- history per (day, branch, employee): retail sales / returns, wholesale sales / returns, net total,
  count of retail sale cheques; only stocks mapped to a branch; a REGOS user without an employee is
  "" (unassigned); attribution ``seller_or_cashier`` (cheque: seller else cashier; shipment: seller
  else attached user; return: attached user);
- Branch month-to-date totals for the month of today; Employee figures of the latest synced day.

States are compared as sorted tuples of values (never ids or timestamps), so "equal" means equal
numbers, to the tiyin.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sync.regos.emulator.dataset import CHEQUE, WHOLESALE, WHOLESALE_RETURN, Dataset

TASHKENT = ZoneInfo("Asia/Tashkent")
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# (kind, regos id, business day, stock id, seller, cashier, attached user, is_return, amount UZS)
Fact = tuple[str, str, date, int, int | None, int | None, int | None, bool, Decimal]
# (day, branch name, employee name or "", retail, retail returns, wholesale, wholesale returns, net, cheques)
HistoryRow = tuple[date, str, str, Decimal, Decimal, Decimal, Decimal, Decimal, int]


def tashkent_day(unix: int) -> date:
    return datetime.fromtimestamp(unix, tz=UTC).astimezone(TASHKENT).date()


def _user(ref: dict | None) -> int | None:
    return ref["id"] if ref and ref.get("id") else None


def expected_facts(ds: Dataset, first: date, last: date) -> list[Fact]:
    facts: list[Fact] = []
    for doc in ds.iter_docs(CHEQUE, first, last):
        if doc["status"] != "Closed":
            continue
        amount = Decimal(doc["amount"]).quantize(CENT, rounding=ROUND_HALF_UP)
        stock = ds.stock_of_session(doc["session"])
        facts.append((
            "cheque", doc["uuid"], tashkent_day(doc["date"]), stock if stock is not None else 0,
            _user(doc.get("seller")), _user(doc.get("cashier")), None, bool(doc["is_return"]), amount,
        ))
    for kind in (WHOLESALE, WHOLESALE_RETURN):
        for doc in ds.iter_docs(kind, first, last):
            if not doc["performed"] or doc["deleted_mark"]:
                continue
            currency = doc.get("currency") or {}
            rate = Decimal(1) if currency.get("is_base", True) else Decimal(doc["exchange_rate"])
            amount = (Decimal(doc["amount"]) * rate).quantize(CENT, rounding=ROUND_HALF_UP)
            seller = _user(doc.get("seller")) if kind == WHOLESALE else None
            facts.append((
                kind, str(doc["id"]), tashkent_day(doc["date"]), doc["stock"]["id"], seller, None,
                _user(doc.get("attached_user")), kind == WHOLESALE_RETURN, amount,
            ))
    return sorted(facts, key=_fact_key)


def _fact_key(fact: Fact) -> tuple:
    return fact[0], fact[1]


def attributed(fact: Fact) -> int | None:
    kind, _id, _day, _stock, seller, cashier, attached, _ret, _amount = fact
    if kind == "wholesale_return":
        return attached
    if kind == "cheque":
        return seller or cashier
    return seller or attached


@dataclass(frozen=True)
class Mapping:
    """REGOS stock id → branch name and REGOS user id → employee name (the mapped ones only)."""

    branches: dict[int, str]
    employees: dict[int, str]


def expected_history(facts: Iterable[Fact], mapping: Mapping) -> list[HistoryRow]:
    acc: dict[tuple[date, str, str], list] = defaultdict(lambda: [ZERO, ZERO, ZERO, ZERO, 0])
    for fact in facts:
        kind, _id, day, stock, *_rest = fact
        amount, is_return = fact[8], fact[7]
        branch = mapping.branches.get(stock)
        if branch is None:
            continue
        user = attributed(fact)
        employee = mapping.employees.get(user, "") if user is not None else ""
        row = acc[(day, branch, employee)]
        if kind == "cheque":
            if is_return:
                row[1] += amount
            else:
                row[0] += amount
                row[4] += 1
        elif is_return:
            row[3] += amount
        else:
            row[2] += amount
    return sorted(
        (day, branch, employee, rs, rr, ws, wr, rs - rr + ws - wr, n)
        for (day, branch, employee), (rs, rr, ws, wr, n) in acc.items()
    )


@dataclass
class State:
    """One database state (or the oracle's), as plain comparable values."""

    facts: list[Fact]
    history: list[HistoryRow]
    branch_totals: list[tuple] = field(default_factory=list)
    employee_totals: list[tuple] = field(default_factory=list)

    def day(self, day: date) -> tuple[list[Fact], list[HistoryRow]]:
        return [f for f in self.facts if f[2] == day], [h for h in self.history if h[0] == day]

    def history_of(self, day: date) -> list[HistoryRow]:
        return [h for h in self.history if h[0] == day]


def totals_from_history(history: Iterable[HistoryRow], *, today: date, latest: date | None,
                        branches: Iterable[str], employees: Iterable[str]) -> tuple[list[tuple], list[tuple]]:
    """(Branch rows, Employee rows): month-to-date per branch for the month of ``today``; per employee
    the figures of ``latest`` (the latest synced business day, None = never synced)."""
    history = list(history)
    month_first = today.replace(day=1)
    month_last = (month_first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    per_branch: dict[str, list[Decimal]] = {name: [ZERO, ZERO] for name in branches}
    for day, branch, _emp, rs, rr, ws, wr, _net, _n in history:
        if month_first <= day <= month_last:
            per_branch[branch][0] += rs - rr
            per_branch[branch][1] += ws - wr
    branch_rows = sorted((name, r, w, r + w, month_first) for name, (r, w) in per_branch.items())
    per_employee: dict[str, list[Decimal]] = {name: [ZERO, ZERO] for name in employees}
    for day, _branch, employee, rs, rr, ws, wr, _net, _n in history:
        if day == latest and employee:
            per_employee[employee][0] += rs - rr
            per_employee[employee][1] += ws - wr
    employee_rows = sorted((name, r, w, latest) for name, (r, w) in per_employee.items())
    return branch_rows, employee_rows


def expected_state(ds: Dataset, first: date, last: date, mapping: Mapping, *, today: date,
                   branches: Iterable[str], employees: Iterable[str]) -> State:
    """The oracle after a clean sync of first..last (and nothing else synced before)."""
    facts = expected_facts(ds, first, last)
    history = expected_history(facts, mapping)
    branch_totals, employee_totals = totals_from_history(
        history, today=today, latest=min(last, today), branches=branches, employees=employees
    )
    return State(facts=facts, history=history, branch_totals=branch_totals, employee_totals=employee_totals)


def derived_totals(state: State) -> tuple[list[tuple], list[tuple]]:
    """What Branch / Employee totals must be given the history now stored (consistency check)."""
    from django.db.models import Max

    from payroll.dates import today
    from payroll.models import Branch, Employee
    from sync.models import HistoryDay

    now = today()
    latest = HistoryDay.objects.filter(state="clean", synced_at__isnull=False, date__lte=now).aggregate(
        d=Max("date")
    )["d"]
    return totals_from_history(
        state.history, today=now, latest=latest,
        branches=Branch.objects.values_list("name", flat=True),
        employees=Employee.objects.values_list("full_name", flat=True),
    )


def database_state() -> State:
    """The current database, in the oracle's shape."""
    from payroll.models import Branch, DailySalesHistory, Employee
    from sync.models import SalesFact

    facts = sorted(
        (
            (kind, regos_id, day, stock, seller, cashier, attached, bool(ret), amount)
            for kind, regos_id, day, stock, seller, cashier, attached, ret, amount in SalesFact.objects.values_list(
                "source_kind", "regos_id", "business_date", "stock_id", "seller_id", "cashier_id",
                "attached_user_id", "is_return", "amount",
            )
        ),
        key=_fact_key,
    )
    branches = dict(Branch.objects.values_list("id", "name"))
    employees = dict(Employee.objects.values_list("id", "full_name"))
    history = sorted(
        (day, branches[branch], employees.get(employee, "") if employee else "", rs, rr, ws, wr, net, n)
        for day, branch, employee, rs, rr, ws, wr, net, n in DailySalesHistory.objects.values_list(
            "date", "branch_id", "employee_id", "retail_sales", "retail_returns", "wholesale_sales",
            "wholesale_returns", "total_sales", "cheque_count",
        )
    )
    branch_totals = sorted(
        Branch.objects.values_list("name", "retail_sales", "wholesale_sales", "total_sales", "totals_month")
    )
    employee_totals = sorted(
        Employee.objects.values_list("full_name", "daily_sales", "wholesale_sales", "sales_date")
    )
    return State(facts=facts, history=history, branch_totals=branch_totals, employee_totals=employee_totals)


def first_difference(actual: list, expected: list) -> str:
    """A short description of how two sorted lists differ (for assertion messages)."""
    extra = [x for x in actual if x not in expected]
    missing = [x for x in expected if x not in actual]
    return f"{len(extra)} unexpected (e.g. {extra[:2]}), {len(missing)} missing (e.g. {missing[:2]})"

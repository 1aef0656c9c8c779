"""Discovery of REGOS stocks and users (Stock/Get + User/Get): mapping rows, optionally their targets.

Idempotent: mapping rows are keyed by the REGOS id; names are only written when they changed; with
``create_missing`` a Branch is created per unmapped stock (or an existing Branch of the same name is
reused — names are unique) and an Employee per unmapped user (an existing employee of exactly that
name is reused when it is the only one and nobody else is mapped to it). A second run creates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from payroll.models import Branch, Employee
from sync.engine.mappings import _get_or_create, seller_mapping_set, stock_mapping_set
from sync.models import SellerMapping, StockMapping
from sync.regos.client import RegosClient

MAPPED, UNMAPPED, CREATED, LINKED = "mapped", "unmapped", "created", "linked"


@dataclass(frozen=True)
class DiscoveredStock:
    regos_id: int
    name: str
    deleted: bool
    state: str  # mapped | unmapped | created (new branch) | linked (existing branch of that name)
    branch: str  # branch name, "" when unmapped


@dataclass(frozen=True)
class DiscoveredUser:
    regos_id: int
    full_name: str
    login: str
    active: bool
    state: str  # mapped | unmapped | created (new employee) | linked (existing employee of that name)
    employee: str


@dataclass
class DiscoverResult:
    stocks: list[DiscoveredStock] = field(default_factory=list)
    users: list[DiscoveredUser] = field(default_factory=list)
    mappings_created: int = 0
    branches_created: int = 0
    employees_created: int = 0
    days_changed: int = 0

    @property
    def unmapped_stocks(self) -> int:
        return sum(s.state == UNMAPPED for s in self.stocks)

    @property
    def unmapped_users(self) -> int:
        return sum(u.state == UNMAPPED for u in self.users)


def employee_adopt_or_create(
    *, full_name: str, is_active: bool, branch: Branch | None = None
) -> tuple[Employee, bool]:
    """The employee a REGOS user gets when an admin asks for a new one: an existing employee of exactly
    that name (e.g. created by the Node payroll system) when there is one and it is not mapped to
    another REGOS user yet; otherwise a new one. Returns (employee, created)."""
    namesakes = list(Employee.objects.filter(full_name=full_name)[:2])
    if len(namesakes) == 1 and not SellerMapping.objects.filter(employee=namesakes[0]).exists():
        return namesakes[0], False
    return Employee.objects.create(full_name=full_name, is_active=is_active, branch=branch), True


def regos_discover(*, client: RegosClient, create_missing: bool = False) -> DiscoverResult:
    result = DiscoverResult()
    stocks = sorted(client.get_stocks(), key=lambda s: s.id)
    users = sorted(client.get_users(), key=lambda u: u.id)

    existing_stocks = {m.regos_stock_id: m for m in StockMapping.objects.select_related("branch")}
    for stock in stocks:
        name = stock.name[:255]
        mapping = existing_stocks.get(stock.id)
        if mapping is None:
            mapping = _get_or_create(StockMapping, regos_stock_id=stock.id)
            result.mappings_created += 1
        if (mapping.regos_name, mapping.deleted_in_regos) != (name, stock.deleted_mark):
            StockMapping.objects.filter(pk=mapping.pk).update(
                regos_name=name, deleted_in_regos=stock.deleted_mark
            )
        state, branch = (MAPPED, mapping.branch) if mapping.branch_id else (UNMAPPED, None)
        if branch is None and create_missing:
            branch = Branch.objects.filter(name=name).first()
            state = LINKED
            if branch is None:
                # Inactive when REGOS marked the stock deleted: it still owns its past sales.
                branch = _get_or_create(Branch, name=name)
                if stock.deleted_mark and branch.is_active:
                    Branch.objects.filter(pk=branch.pk).update(is_active=False)
                state = CREATED
                result.branches_created += 1
            result.days_changed += stock_mapping_set(regos_stock_id=stock.id, branch=branch)
        result.stocks.append(
            DiscoveredStock(
                regos_id=stock.id,
                name=name,
                deleted=stock.deleted_mark,
                state=state,
                branch=branch.name if branch else "",
            )
        )

    existing_users = {m.regos_user_id: m for m in SellerMapping.objects.select_related("employee")}
    for user in users:
        full_name = (user.full_name or user.login or f"REGOS user {user.id}")[:255]
        login = (user.login or "")[:150]
        mapping = existing_users.get(user.id)
        if mapping is None:
            mapping = _get_or_create(SellerMapping, regos_user_id=user.id)
            result.mappings_created += 1
        if (mapping.full_name, mapping.login, mapping.active_in_regos) != (full_name, login, user.active):
            SellerMapping.objects.filter(pk=mapping.pk).update(
                full_name=full_name, login=login, active_in_regos=user.active
            )
        state, employee = (MAPPED, mapping.employee) if mapping.employee_id else (UNMAPPED, None)
        if employee is None and create_missing:
            employee, created = employee_adopt_or_create(full_name=full_name, is_active=user.active)
            state = CREATED if created else LINKED
            result.employees_created += created
            result.days_changed += seller_mapping_set(regos_user_id=user.id, employee=employee)
        result.users.append(
            DiscoveredUser(
                regos_id=user.id,
                full_name=full_name,
                login=login,
                active=user.active,
                state=state,
                employee=employee.full_name if employee else "",
            )
        )
    return result

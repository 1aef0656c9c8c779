"""Read-only queries of the sync (runs, repair state, unmapped data, the facts behind a history row)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from payroll.models import UNASSIGNED, Branch, DailySalesHistory, Employee
from sync.engine.history import Mappings, attributed_user
from sync.engine.mappings import fact_days_for_stock, fact_days_for_user, name_key
from sync.engine.quarantine import incomplete_days
from sync.engine.runs import run_is_stale
from sync.models import (
    HistoryDay,
    QuarantinedDocument,
    ReconciliationRow,
    ReconciliationRun,
    SalesFact,
    SellerMapping,
    StockMapping,
    SyncRun,
)

__all__ = [
    "MappingBacklog",
    "MappingPlan",
    "PlannedMapping",
    "UnmappedStock",
    "UnassignedUser",
    "WaitingUser",
    "mapping_backlog",
    "mapping_plan",
    "suggested_home_branch",
    "unmapped_users",
    "days_needing_repair",
    "fact_days_for_stock",
    "fact_days_for_user",
    "facts_for_history_row",
    "incomplete_days",
    "quarantine_undated_count",
    "sync_run_active",
    "sync_run_get",
    "sync_run_is_stale",
    "sync_runs_recent",
    "unassigned_users",
    "unmapped_stocks",
]


def quarantine_undated_count() -> int:
    """Quarantined documents whose date is unreadable (no day can be marked incomplete for them)."""
    return QuarantinedDocument.objects.filter(business_date=None).count()


def sync_run_get(*, run_id: uuid.UUID | str) -> SyncRun | None:
    return SyncRun.objects.filter(id=run_id).first()


def sync_runs_recent(*, limit: int = 50) -> QuerySet[SyncRun]:
    return SyncRun.objects.order_by("-created_at")[:limit]


def sync_run_active(*, date_from: date | None = None, date_to: date | None = None) -> SyncRun | None:
    """The oldest queued/running run (overlapping the range, if given), stale or not."""
    runs = SyncRun.objects.filter(status__in=SyncRun.ACTIVE)
    if date_from is not None and date_to is not None:
        runs = runs.filter(date_from__lte=date_to, date_to__gte=date_from)
    return runs.order_by("created_at").first()


def sync_run_is_stale(*, run: SyncRun) -> bool:
    """Active but abandoned: running without a heartbeat for REGOS_RUN_STALE_AFTER_S, or never picked up."""
    return run_is_stale(run)


def days_needing_repair() -> list[date]:
    """Days whose history a crash left half-written ("rebuilding"): a sync of those days repairs them."""
    return list(
        HistoryDay.objects.filter(state=HistoryDay.State.REBUILDING)
        .order_by("date")
        .values_list("date", flat=True)
    )


@dataclass(frozen=True)
class UnmappedStock:
    regos_stock_id: int  # 0 = REGOS could not say which stock (cash session/register unknown)
    regos_name: str
    facts: int
    amount: Decimal  # signed: sales minus returns, UZS
    first_day: date
    last_day: date


def unmapped_stocks() -> list[UnmappedStock]:
    """REGOS stocks with facts but no branch: their sales are kept and wait for a mapping."""
    mapped = set(StockMapping.objects.filter(branch__isnull=False).values_list("regos_stock_id", flat=True))
    names = dict(StockMapping.objects.values_list("regos_stock_id", "regos_name"))
    acc: dict[int, list] = {}
    for stock_id, is_return, amount, day in SalesFact.objects.exclude(stock_id__in=mapped).values_list(
        "stock_id", "is_return", "amount", "business_date"
    ):
        row = acc.setdefault(stock_id, [0, Decimal("0.00"), day, day])
        row[0] += 1
        row[1] += -amount if is_return else amount
        row[2], row[3] = min(row[2], day), max(row[3], day)
    return [
        UnmappedStock(
            regos_stock_id=sid,
            regos_name=names.get(sid, ""),
            facts=n,
            amount=amount,
            first_day=first,
            last_day=last,
        )
        for sid, (n, amount, first, last) in sorted(acc.items())
    ]


@dataclass(frozen=True)
class UnassignedUser:
    regos_user_id: int
    full_name: str
    facts: int


def unassigned_users() -> list[UnassignedUser]:
    """REGOS users seen on facts (in any role) that have no employee mapping."""
    mapped = set(SellerMapping.objects.filter(employee__isnull=False).values_list("regos_user_id", flat=True))
    names = dict(SellerMapping.objects.values_list("regos_user_id", "full_name"))
    counts: dict[int, int] = {}
    for column in ("seller_id", "cashier_id", "attached_user_id"):
        for row in (
            SalesFact.objects.filter(**{f"{column}__isnull": False}).values(column).annotate(n=Count("id"))
        ):
            uid = row[column]
            if uid not in mapped:
                counts[uid] = counts.get(uid, 0) + row["n"]
    return [
        UnassignedUser(regos_user_id=uid, full_name=names.get(uid, ""), facts=n)
        for uid, n in sorted(counts.items())
    ]


@dataclass
class WaitingUser:
    """A REGOS user that documents count for but who maps to no employee, and what waits for them."""

    regos_id: int
    name: str = ""
    documents: int = 0
    amount: Decimal = Decimal("0.00")  # net: sales minus returns, UZS
    first_day: date | None = None
    last_day: date | None = None
    by_stock: dict[int, Decimal] = field(default_factory=dict)  # net per REGOS stock

    def add(self, *, amount: Decimal, is_return: bool, day: date, stock_id: int) -> None:
        signed = -amount if is_return else amount
        self.documents += 1
        self.amount += signed
        self.by_stock[stock_id] = self.by_stock.get(stock_id, Decimal("0.00")) + signed
        self.first_day = day if self.first_day is None else min(self.first_day, day)
        self.last_day = day if self.last_day is None else max(self.last_day, day)

    @property
    def home_stock(self) -> int | None:
        """The REGOS stock where they sold most (net; ties: the lowest stock id), None without sales."""
        best = max(self.by_stock.items(), key=lambda item: (item[1], -item[0]), default=None)
        return best[0] if best is not None and best[1] > 0 else None


@dataclass(frozen=True)
class MappingBacklog:
    """Documents kept but not (fully) counted: their stock maps to no branch or their user to no employee."""

    documents: int
    amount: Decimal  # net: sales minus returns, UZS


def _waiting_users() -> dict[int, WaitingUser]:
    """One pass over the facts: the unmapped users documents count for (per REGOS_ATTRIBUTION).

    Money is added in Python with Decimal (SQLite sums decimals as floats).
    """
    mode = settings.REGOS_ATTRIBUTION
    mapped = set(SellerMapping.objects.filter(employee__isnull=False).values_list("regos_user_id", flat=True))
    waiting: dict[int, WaitingUser] = {}
    facts = SalesFact.objects.values_list(
        "source_kind", "seller_id", "cashier_id", "attached_user_id", "amount", "is_return", "business_date",
        "stock_id",
    ).iterator(chunk_size=2000)
    for kind, seller_id, cashier_id, attached_id, value, is_return, day, stock_id in facts:
        user_id = attributed_user(
            kind=kind, seller_id=seller_id, cashier_id=cashier_id, attached_user_id=attached_id, mode=mode
        )
        if user_id is not None and user_id not in mapped:
            waiting.setdefault(user_id, WaitingUser(user_id)).add(
                amount=value, is_return=is_return, day=day, stock_id=stock_id
            )
    return waiting


def unmapped_users() -> list[WaitingUser]:
    """REGOS users that documents count for (per REGOS_ATTRIBUTION) and that map to no employee,
    sorted by the amount waiting."""
    waiting = _waiting_users()
    if waiting:
        for user_id, name in SellerMapping.objects.filter(regos_user_id__in=list(waiting)).values_list(
            "regos_user_id", "full_name"
        ):
            waiting[user_id].name = name
    return sorted(waiting.values(), key=lambda w: (-w.amount, w.regos_id))


def mapping_backlog(*, first_day: date | None = None, last_day: date | None = None) -> MappingBacklog:
    """The documents that wait for a mapping (each once, whether its stock, its user or both are
    unmapped) and their net amount: why a first sync writes no (or only unassigned) history.

    Shown on the home page, so it avoids reading every fact: the documents are counted per (kind, users,
    stock) group in the database, and only the facts of unmapped stocks/users are read for the amount
    (Decimal in Python: SQLite sums decimals as floats). Once everything is mapped that read is empty.
    ``first_day``/``last_day``: only the documents of those business days (a payroll month's readiness).
    """
    mode = settings.REGOS_ATTRIBUTION
    mapped_users = set(
        SellerMapping.objects.filter(employee__isnull=False).values_list("regos_user_id", flat=True)
    )
    mapped_stocks = set(
        StockMapping.objects.filter(branch__isnull=False).values_list("regos_stock_id", flat=True)
    )

    def waits(kind: str, seller_id: int | None, cashier_id: int | None, attached_id: int | None,
              stock_id: int) -> int | None:
        """None: counted in full; else the unmapped user the document counts for (0: only its stock)."""
        user_id = attributed_user(
            kind=kind, seller_id=seller_id, cashier_id=cashier_id, attached_user_id=attached_id, mode=mode
        )
        if user_id is not None and user_id not in mapped_users:
            return user_id
        return 0 if stock_id not in mapped_stocks else None

    documents = 0
    stocks: set[int] = set()
    users: set[int] = set()
    facts = SalesFact.objects.all()
    if first_day is not None:
        facts = facts.filter(business_date__gte=first_day)
    if last_day is not None:
        facts = facts.filter(business_date__lte=last_day)
    groups = facts.values("source_kind", "seller_id", "cashier_id", "attached_user_id", "stock_id")
    for row in groups.annotate(n=Count("id")).order_by():
        user_id = waits(row["source_kind"], row["seller_id"], row["cashier_id"], row["attached_user_id"],
                        row["stock_id"])
        if user_id is None:
            continue
        documents += row["n"]
        if row["stock_id"] not in mapped_stocks:
            stocks.add(row["stock_id"])
        if user_id:
            users.add(user_id)
    amount = Decimal("0.00")
    if documents:
        candidates = facts.filter(
            Q(stock_id__in=stocks) | Q(seller_id__in=users) | Q(cashier_id__in=users)
            | Q(attached_user_id__in=users)
        ).values_list("source_kind", "seller_id", "cashier_id", "attached_user_id", "stock_id", "amount",
                      "is_return")
        for kind, seller_id, cashier_id, attached_id, stock_id, value, is_return in candidates.iterator(
            chunk_size=2000
        ):
            if waits(kind, seller_id, cashier_id, attached_id, stock_id) is not None:
                amount += -value if is_return else value
    return MappingBacklog(documents=documents, amount=amount)


def suggested_home_branch(*, regos_user_id: int) -> Branch | None:
    """The mapped branch where this REGOS user sold most (net, per REGOS_ATTRIBUTION); None if none."""
    mode = settings.REGOS_ATTRIBUTION
    who = WaitingUser(regos_user_id)
    for kind, seller_id, cashier_id, attached_id, value, is_return, day, stock_id in SalesFact.objects.filter(
        Q(seller_id=regos_user_id) | Q(cashier_id=regos_user_id) | Q(attached_user_id=regos_user_id)
    ).values_list(
        "source_kind", "seller_id", "cashier_id", "attached_user_id", "amount", "is_return", "business_date",
        "stock_id",
    ):
        if attributed_user(
            kind=kind, seller_id=seller_id, cashier_id=cashier_id, attached_user_id=attached_id, mode=mode
        ) == regos_user_id:
            who.add(amount=value, is_return=is_return, day=day, stock_id=stock_id)
    mapped = dict(StockMapping.objects.filter(branch__isnull=False).values_list("regos_stock_id", "branch_id"))
    who.by_stock = {sid: amount for sid, amount in who.by_stock.items() if sid in mapped}
    home = who.home_stock
    return None if home is None else Branch.objects.filter(pk=mapped[home]).first()


# --- bulk mapping: the preview is a plan; applying re-plans and requires the same plan ----------------

@dataclass(frozen=True)
class PlannedMapping:
    kind: str  # "stock" | "user"
    regos_id: int
    regos_name: str
    documents: int
    target_id: str | None  # an existing branch/employee (its pk), or None: one is created
    target_name: str
    home_branch: str = ""  # users to create: the suggested home branch's name ("" = none)
    home_stock: int | None = None

    @property
    def creates(self) -> bool:
        return self.target_id is None


@dataclass(frozen=True)
class MappingPlan:
    mode: str  # "match": existing names only; "create": match, and create the rest that have documents
    stocks: list[PlannedMapping]
    users: list[PlannedMapping]
    ambiguous: list[PlannedMapping]  # a name shared by several branches/employees: left alone
    token: str  # changes whenever the plan would: a stale preview is refused

    def creates(self, kind: str) -> int:
        return sum(1 for p in (self.stocks if kind == "stock" else self.users) if p.creates)


PLAN_MODES = ("match", "create")


def _by_key(pairs: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for pk, name in pairs:
        key = name_key(name)
        if key:
            found.setdefault(key, []).append((pk, name))
    return found


def mapping_plan(*, mode: str) -> MappingPlan:
    """What a bulk mapping would do, REGOS row by row, without doing it.

    Unmapped REGOS stocks/users with a name are matched to the branch/employee of the same
    ``name_key``; a name two of them share is ambiguous and left alone. In "create" mode the rest get
    a new branch/employee, but only those with documents waiting (warehouses and users that never
    sold stay out of the branch and employee lists); two stocks of one name share the new branch.
    A new employee's home branch is the branch of the stock where they sold most (mapped, or mapped
    by this plan).
    """
    if mode not in PLAN_MODES:
        raise ValueError(mode)
    create = mode == "create"
    stock_docs = {s.regos_stock_id: s.facts for s in unmapped_stocks()}
    waiting = {w.regos_id: w for w in unmapped_users()}
    branches = _by_key([(str(pk), name) for pk, name in Branch.objects.values_list("pk", "name")])
    employees = _by_key([(str(pk), name) for pk, name in Employee.objects.values_list("pk", "full_name")])
    ambiguous: list[PlannedMapping] = []

    stocks: list[PlannedMapping] = []
    new_branches: dict[str, str] = {}  # name_key → the name the new branch gets
    for sid, name in StockMapping.objects.filter(branch__isnull=True).order_by("regos_stock_id").values_list(
        "regos_stock_id", "regos_name"
    ):
        key = name_key(name)
        if not key:
            continue
        same = branches.get(key, [])
        docs = stock_docs.get(sid, 0)
        if len(same) > 1:
            ambiguous.append(PlannedMapping("stock", sid, name, docs, None, ""))
        elif same:
            stocks.append(PlannedMapping("stock", sid, name, docs, same[0][0], same[0][1]))
        elif create and docs:
            new_name = new_branches.setdefault(key, " ".join(name.split())[:200])
            stocks.append(PlannedMapping("stock", sid, name, docs, None, new_name))

    mapped_stock_branch = dict(
        StockMapping.objects.filter(branch__isnull=False).values_list("regos_stock_id", "branch__name")
    )
    planned_stock_branch = {p.regos_id: p.target_name for p in stocks}
    users: list[PlannedMapping] = []
    for uid, name in SellerMapping.objects.filter(employee__isnull=True).order_by("regos_user_id").values_list(
        "regos_user_id", "full_name"
    ):
        key = name_key(name)
        if not key:
            continue
        same = employees.get(key, [])
        who = waiting.get(uid)
        docs = who.documents if who else 0
        if len(same) > 1:
            ambiguous.append(PlannedMapping("user", uid, name, docs, None, ""))
        elif same:
            users.append(PlannedMapping("user", uid, name, docs, same[0][0], same[0][1]))
        elif create and docs:
            branch_of = {**planned_stock_branch, **mapped_stock_branch}
            sold = {sid: net for sid, net in (who.by_stock.items() if who else ()) if sid in branch_of}
            home = WaitingUser(uid, by_stock=sold).home_stock
            home_branch = "" if home is None else branch_of[home]
            users.append(PlannedMapping("user", uid, name, docs, None, " ".join(name.split())[:200],
                                        home_branch=home_branch, home_stock=home if home_branch else None))

    digest = hashlib.sha256(repr((mode, stocks, users)).encode()).hexdigest()[:32]
    return MappingPlan(mode=mode, stocks=stocks, users=users, ambiguous=ambiguous, token=digest)


def facts_for_history_row(*, row: DailySalesHistory) -> list[SalesFact]:
    """The audit trail: the facts that make up one history row, under the current mappings."""
    mappings = Mappings.load()
    stocks = [sid for sid, branch_id in mappings.branches.items() if branch_id == row.branch_id]
    mode = settings.REGOS_ATTRIBUTION
    wanted_key = row.employee_key or UNASSIGNED
    result = []
    for fact in SalesFact.objects.filter(business_date=row.date, stock_id__in=stocks).order_by("occurred_at"):
        user_id = attributed_user(
            kind=fact.source_kind,
            seller_id=fact.seller_id,
            cashier_id=fact.cashier_id,
            attached_user_id=fact.attached_user_id,
            mode=mode,
        )
        employee_id = mappings.employees.get(user_id) if user_id is not None else None
        if DailySalesHistory.key_for(employee_id) == wanted_key:
            result.append(fact)
    return result


# --------------------------------------------------------------------------- reconciliation


@dataclass(frozen=True)
class ReconciliationProblem:
    """A register or stock that is not reconciled for a range, or differs from REGOS."""

    kind: str  # "register" | "stock" | "range" (nothing reconciled yet)
    regos_id: int | None
    reason: str  # short, translated
    run_id: str | None  # the run to link to (None: no run covers the range)


def reconciliation_latest(*, first_day: date, last_day: date) -> ReconciliationRun | None:
    """The newest finished run that covers first_day..last_day (its range contains the whole range)."""
    return ReconciliationRun.objects.filter(
        date_from__lte=first_day, date_to__gte=last_day, status=ReconciliationRun.Status.SUCCEEDED
    ).order_by("-finished_at", "-created_at").first()


def reconciliation_problems(*, first_day: date, last_day: date) -> list[ReconciliationProblem]:
    """What stops first_day..last_day counting as reconciled with REGOS (for "close the month" readiness).

    Empty when the newest succeeded reconciliation run covering the whole range found every register
    (retail, ``RetailReport/Counts`` + ``/Payments``) and every stock (wholesale) equal. Otherwise one
    problem per register/stock that differed — with a short reason naming the difference in count and
    net amount (ours − REGOS's) and the days bisection pinned — or a single ``kind="range"`` problem
    when no succeeded run covers the range (never reconciled, or only a failed/partial attempt).
    ``run_id`` links to the run's page (``sync:reconciliation``).
    """
    run = reconciliation_latest(first_day=first_day, last_day=last_day)
    if run is None:
        return [ReconciliationProblem("range", None, str(_("Not reconciled with REGOS yet.")), None)]
    rows = list(run.rows.all())
    days: dict[tuple[str, int], list[str]] = {}
    for row in rows:
        if row.level == ReconciliationRow.Level.DAY and not row.equal:
            days.setdefault((row.kind, row.regos_id), []).append(row.date_from.isoformat())
    problems = []
    for row in rows:
        if row.level != ReconciliationRow.Level.RANGE or row.equal:
            continue
        reason = _("%(kind)s %(id)s differs from REGOS: count %(count)+d, amount %(amount)s") % {
            "kind": row.get_kind_display(), "id": row.regos_id, "count": row.count_difference,
            "amount": f"{row.amount_difference:+}",
        }
        pinned = days.get((row.kind, row.regos_id))
        if pinned:
            reason = f"{reason} ({', '.join(pinned)})"
        problems.append(ReconciliationProblem(row.kind, row.regos_id, str(reason), str(run.id)))
    return problems


def reconciliation_runs_recent(*, limit: int = 20) -> QuerySet[ReconciliationRun]:
    return ReconciliationRun.objects.order_by("-created_at")[:limit]

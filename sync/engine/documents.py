"""REGOS documents → fact rows: the only place that decides what a document is worth in UZS.

A fact row carries exactly the SalesFact columns the window replace compares, normalised the way the
database gives them back (money to 2 places, rates to 6), so "unchanged" means equal tuples.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from payroll.dates import business_date
from sync.models import SalesFact
from sync.regos.models import ChequeStatus, DocCheque, DocWholeSale, DocWholeSaleReturn, UserRef

CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.000001")
BASE_CURRENCY = "UZS"
# Stock id of a cheque whose cash session or register REGOS could not resolve. The fact is kept
# (nothing is dropped silently), the id is listed as unmapped, and the next run tries again.
UNRESOLVED_STOCK = 0

Kind = SalesFact.Kind


class DocumentError(ValueError):
    """A document that cannot be valued (e.g. a foreign-currency shipment without a rate)."""


def money(value: Decimal) -> Decimal:
    """2 places, half up: the precision of every stored amount."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def base_amount(doc_amount: Decimal, rate: Decimal) -> Decimal:
    """Document amount × the document's own exchange rate, rounded once to 2 places (half up).

    The unrounded document amount is used, so the only rounding in the whole pipeline is here.
    """
    return money(doc_amount * rate)


class FactRow(NamedTuple):
    """Immutable, and a tuple: building one costs a fraction of a frozen dataclass (a million a month)."""

    source_kind: str
    regos_id: str
    code: str
    business_date: date
    occurred_at: datetime
    stock_id: int
    session_uuid: str
    operating_cash_id: int | None
    seller_id: int | None
    cashier_id: int | None
    attached_user_id: int | None
    sale_type: str
    is_return: bool
    amount: Decimal
    doc_amount: Decimal
    currency: str
    exchange_rate: Decimal
    status: str
    last_update: datetime | None

    @property
    def key(self) -> tuple[str, str]:
        return self[0], self[1]

    def values(self) -> tuple[object, ...]:
        """The compared columns, in ``DATA_FIELDS`` order."""
        return self[2:]


# Everything but the natural key: what the window replace compares and writes.
DATA_FIELDS: tuple[str, ...] = FactRow._fields[2:]
ONE_RATE = Decimal(1).quantize(RATE_PLACES)


def _user_id(ref: UserRef | None) -> int | None:
    # REGOS has been seen to send {"id": 0} for "nobody"; 0 is never a real user.
    return ref.id if ref is not None and ref.id else None


def _code(code: str | None) -> str:
    return (code or "")[:64]


_CHEQUE = str(Kind.CHEQUE)
_RETAIL = str(SalesFact.SaleType.RETAIL)


def cheque_counts(cheque: DocCheque) -> bool:
    """The one rule of which cheques are sales: status ``Closed`` only. Canceled, unfinished
    (Opened, Paying, Delayed, DelayedPayment), Default and any status REGOS may add later are not."""
    return cheque.status == ChequeStatus.CLOSED


def cheque_fact(cheque: DocCheque, *, stock_id: int, operating_cash_id: int | None) -> FactRow | None:
    """A closed cheque as a fact; anything but Closed is not a sale (returns None, see ``cheque_counts``).

    Written out positionally (in ``FactRow`` field order) because it runs once per cheque: a million
    times for a month of a large chain.
    """
    if cheque.status != ChequeStatus.CLOSED:  # ``cheque_counts``, inlined: this runs once per cheque
        return None
    amount = money(cheque.amount)
    seller, cashier = cheque.seller, cheque.cashier
    return FactRow(
        _CHEQUE,  # source_kind
        cheque.uuid,  # regos_id
        (cheque.code or "")[:64],  # code
        business_date(cheque.date),  # business_date
        cheque.date,  # occurred_at
        stock_id,
        cheque.session[:64],  # session_uuid
        operating_cash_id,
        seller.id if seller is not None and seller.id else None,  # seller_id (REGOS sends {"id": 0} for nobody)
        cashier.id if cashier is not None and cashier.id else None,  # cashier_id
        None,  # attached_user_id
        _RETAIL,  # sale_type
        cheque.is_return,
        amount,  # amount
        amount,  # doc_amount
        BASE_CURRENCY,  # currency: cheques carry none, they are in the account's base currency
        ONE_RATE,  # exchange_rate
        str(cheque.status),  # status
        cheque.last_update,
    )


def _rate(doc: DocWholeSale | DocWholeSaleReturn) -> tuple[str, Decimal]:
    """(currency code, rate to UZS) of a wholesale document; DocumentError when it cannot be valued.

    The vendor's schema makes ``is_base`` and ``exchange_rate`` nullable. The rule, in order:
    a base currency (``is_base: true``) is rate 1; else the document's own positive rate; else —
    rate null, absent or ≤ 0 — a document without a currency object, or whose currency is
    ``is_base: null`` with the code UZS, is in the base currency (rate 1); any other (a foreign
    currency without a rate) cannot be valued and is refused, naming the document.
    """
    currency = doc.currency
    code = (currency.code_chr if currency and currency.code_chr else BASE_CURRENCY)[:10]
    if currency is not None and currency.is_base:
        return code, Decimal(1)
    rate = doc.exchange_rate
    if rate is not None and rate > 0:
        return code, rate
    if currency is None or (currency.is_base is None and code == BASE_CURRENCY):
        return code, Decimal(1)
    raise DocumentError(f"wholesale document {doc.id} in {code} has no usable exchange rate ({rate})")


def wholesale_fact(doc: DocWholeSale | DocWholeSaleReturn) -> FactRow | None:
    """A performed, not delete-marked shipment or return as a fact; others are not sales (None)."""
    if not doc.performed or doc.deleted_mark:
        return None
    is_return = isinstance(doc, DocWholeSaleReturn)
    currency, rate = _rate(doc)
    return FactRow(
        source_kind=Kind.WHOLESALE_RETURN if is_return else Kind.WHOLESALE,
        regos_id=str(doc.id),
        code=_code(doc.code),
        business_date=business_date(doc.date),
        occurred_at=doc.date,
        stock_id=doc.stock.id,
        session_uuid="",
        operating_cash_id=None,
        # REGOS sends no seller on returns.
        seller_id=None if is_return else _user_id(doc.seller),  # type: ignore[union-attr]
        cashier_id=None,
        attached_user_id=_user_id(doc.attached_user),
        sale_type=SalesFact.SaleType.WHOLESALE,
        is_return=is_return,
        amount=base_amount(doc.amount, rate),
        doc_amount=money(doc.amount),
        currency=currency,
        exchange_rate=rate.quantize(RATE_PLACES, rounding=ROUND_HALF_UP),
        status="Performed",
        last_update=doc.last_update,
    )

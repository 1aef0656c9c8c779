"""Pydantic v2 models of the REGOS responses we read (field names as REGOS sends them).

Money is Decimal (parsed from the JSON number's text, never through float); unix seconds become aware
UTC datetimes; ``status`` is accepted as the string name or the integer code. Unknown fields are
ignored so a newer REGOS release does not break the sync; a missing or ill-typed field we rely on
fails validation loudly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator


def _unix_to_datetime(value: Any) -> Any:
    try:
        if type(value) is int:  # the common case first: called for every date of every document
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, bool):
            raise ValueError("expected unix seconds, got a boolean")
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return datetime.fromtimestamp(int(value), tz=UTC)
    except (OverflowError, OSError):
        # Not a ValueError, so pydantic would let it escape: a date far out of range is an invalid field.
        raise ValueError(f"unix seconds out of range: {value}") from None
    return value


def _strict_decimal(value: Any) -> Any:
    # A float reaching here has already lost the JSON text; str() gives its shortest repr, which is
    # what the JSON said for any amount with ≤15 significant digits.
    if type(value) is Decimal:  # what the client's JSON parser makes of every non-integer number
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError("expected a number")
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


UnixTime = Annotated[datetime, BeforeValidator(_unix_to_datetime)]
Money = Annotated[Decimal, BeforeValidator(_strict_decimal)]


class RegosModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class ChequeStatus(StrEnum):
    OPENED = "Opened"
    PAYING = "Paying"
    CLOSED = "Closed"
    DELAYED = "Delayed"
    DELAYED_PAYMENT = "DelayedPayment"
    CANCELED = "Canceled"


CHEQUE_STATUS_CODES = {
    1: ChequeStatus.OPENED,
    2: ChequeStatus.PAYING,
    3: ChequeStatus.CLOSED,
    4: ChequeStatus.DELAYED,
    5: ChequeStatus.DELAYED_PAYMENT,
    6: ChequeStatus.CANCELED,
}


class UserRef(RegosModel):
    id: int
    full_name: str = ""


class User(RegosModel):
    id: int
    full_name: str = ""
    first_name: str | None = None
    last_name: str | None = None
    login: str | None = None
    active: bool = True
    seller_barcode: str | None = None


class Firm(RegosModel):
    id: int
    name: str = ""


class Stock(RegosModel):
    id: int
    name: str = ""
    address: str | None = None
    firm: Firm | None = None
    deleted_mark: bool = False


class OperatingCash(RegosModel):
    id: int
    stock: Stock
    virtual: bool = False
    description: str | None = None


class DocCashSession(RegosModel):
    uuid: str
    code: str | None = None
    operating_cash_id: int
    start_date: UnixTime | None = None
    close_date: UnixTime | None = None
    closed: bool = False
    start_user: UserRef | None = None
    close_user: UserRef | None = None


class DocCheque(RegosModel):
    uuid: str
    date: UnixTime
    code: str | None = None
    status: ChequeStatus
    session: str
    cashier: UserRef | None = None
    seller: UserRef | None = None
    is_return: bool = False
    return_reason: str | None = None
    amount: Money
    last_update: UnixTime | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if value not in CHEQUE_STATUS_CODES:
                raise ValueError(f"unknown cheque status code {value}")
            return CHEQUE_STATUS_CODES[value]
        return value


class Currency(RegosModel):
    id: int
    code_chr: str = ""
    name: str = ""
    exchange_rate: Money | None = None
    is_base: bool = False


class PartnerRef(RegosModel):
    id: int
    name: str = ""


class DocWholeSale(RegosModel):
    id: int
    date: UnixTime
    code: str | None = None
    partner: PartnerRef | None = None
    stock: Stock
    currency: Currency | None = None
    amount: Money
    exchange_rate: Money = Decimal(1)
    attached_user: UserRef | None = None
    seller: UserRef | None = None
    performed: bool
    deleted_mark: bool = False
    blocked: bool = False
    last_update: UnixTime | None = None


class DocWholeSaleReturn(RegosModel):
    """Same shape as a shipment, but REGOS sends no seller on returns."""

    id: int
    date: UnixTime
    code: str | None = None
    partner: PartnerRef | None = None
    stock: Stock
    currency: Currency | None = None
    amount: Money
    exchange_rate: Money = Decimal(1)
    attached_user: UserRef | None = None
    performed: bool
    deleted_mark: bool = False
    blocked: bool = False
    last_update: UnixTime | None = None


class ItemRef(RegosModel):
    id: int
    name: str = ""
    code: int | str | None = None


class ChequeItemOperation(RegosModel):
    uuid: str
    document: str
    stock_id: int | None = None
    item: ItemRef
    order: int | None = None
    quantity: Money
    price: Money
    price2: Money | None = None
    has_storno: bool = False
    storno_uuid: str | None = None


class PaymentTypeRef(RegosModel):
    id: int
    name: str = ""
    is_cash: bool = False


class ChequePaymentOperation(RegosModel):
    uuid: str
    document: str
    order: int | None = None
    payment_type: PaymentTypeRef | None = None
    value: Money
    has_storno: bool = False


class WholeSaleOperation(RegosModel):
    id: int
    document_id: int
    item: ItemRef
    quantity: Money
    price: Money
    price2: Money | None = None


class RegosEvent(RegosModel):
    event_id: str
    occurred_at: datetime
    action: str
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # REGOS documents occurred_at as UTC; an ISO string without an offset would otherwise
        # become a naive datetime.
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class EventPage(RegosModel):
    events: list[RegosEvent] = Field(default_factory=list)
    next_event_id: str | None = None
    has_more: bool = False


class ErrorResult(RegosModel):
    error: int
    description: str = ""

    @field_validator("error", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value


class Envelope[T](RegosModel):
    ok: bool
    result: T
    next_offset: int | None = None
    total: int | None = None

"""Pydantic v2 models of the REGOS responses we read (field names as REGOS sends them).

The vendor's published schema is the contract (``regos-software/py-integrations``, ``schemas/api/**``,
generated from the REGOS public Swagger, where almost every field is nullable): every field and every
``null`` it allows is accepted, nested objects are objects. Validation is strict only where the
figures depend on a value (date, status, is_return, amount, session, seller/cashier ids, stock,
performed, deleted_mark, exchange_rate); where such a field may be null its meaning is chosen and
written on the field's model and in the README. Unknown fields are ignored so a newer REGOS release
does not break the sync. Money is Decimal (parsed from the JSON number's text, never through float);
unix seconds become aware UTC datetimes.
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


def _none_as(default: Any) -> BeforeValidator:
    """``null`` means the field's documented default (the vendor marks almost every field nullable)."""
    return BeforeValidator(lambda value: default if value is None else value)


# A nullable text or flag whose null has an obvious meaning; the choice of meaning is documented on
# each field below and in the README ("What regos-admin assumes about REGOS").
Text = Annotated[str, _none_as("")]
FalseIfNull = Annotated[bool, _none_as(False)]
TrueIfNull = Annotated[bool, _none_as(True)]


class ChequeStatus(StrEnum):
    DEFAULT = "Default"
    OPENED = "Opened"
    PAYING = "Paying"
    CLOSED = "Closed"
    DELAYED = "Delayed"
    DELAYED_PAYMENT = "DelayedPayment"
    CANCELED = "Canceled"


# The older generated schema's IntEnum (0 = Default); the vendor's own code says the status is
# "historically string or code", so both are read.
CHEQUE_STATUS_CODES = {
    0: ChequeStatus.DEFAULT,
    1: ChequeStatus.OPENED,
    2: ChequeStatus.PAYING,
    3: ChequeStatus.CLOSED,
    4: ChequeStatus.DELAYED,
    5: ChequeStatus.DELAYED_PAYMENT,
    6: ChequeStatus.CANCELED,
}
_STATUS_BY_LOWER = {status.value.lower(): status for status in ChequeStatus}


def cheque_status(value: Any) -> ChequeStatus | str:
    """A cheque's status as its name: a known name (any case) or code → the enum member, an unknown
    name or code → kept as text ("code 9" for a number), so a status REGOS adds later is data.

    Only ``Closed`` counts as a sale (``sync.engine.documents.cheque_fact``); every other value is
    excluded from the figures and counted in the run report. ``null`` and non-scalar values are
    refused: without a status nobody can tell whether the cheque is a sale.
    """
    if isinstance(value, ChequeStatus):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError("a cheque status is required (a name such as \"Closed\" or a code 0-6)")
    if isinstance(value, int):
        return CHEQUE_STATUS_CODES.get(value, f"code {value}")
    if isinstance(value, str) and value.strip():
        text = value.strip()
        return _STATUS_BY_LOWER.get(text.lower(), text[:40])
    raise ValueError("a cheque status must be a name or an integer code")


Status = Annotated[ChequeStatus | str, BeforeValidator(cheque_status)]


class UserGroup(RegosModel):
    id: int | None = None
    parent_id: int | None = None
    name: Text = ""
    child_count: int | None = None
    last_update: UnixTime | None = None


class UserRef(RegosModel):
    """A user nested in a document (``cashier``, ``seller``, ``attached_user``, ``start_user`` …).

    REGOS nests the full User object (~25 fields, ``user_group`` included); only ``id`` and
    ``full_name`` are read, every other field is ignored whatever its value. ``id`` null or 0 means
    nobody; ``full_name`` null means no name (the mapping page then shows the id).
    """

    id: int | None = None
    full_name: Text = ""


class User(RegosModel):
    """``User/Get`` (vendor schema ``schemas/api/rbac/user.py``): every field nullable.

    ``active: null`` is read as active (REGOS deactivates a user explicitly; a null is no such act);
    ``full_name: null`` as no name. ``id`` is the mapping key and is required.
    """

    id: int
    full_name: Text = ""
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    login: str | None = None
    active: TrueIfNull = True
    seller_barcode: str | None = None
    main_phone: str | None = None
    internal_phone: str | None = None
    user_group: UserGroup | None = None
    enable_hints: bool | None = None
    system: bool | None = None
    sub: str | None = None
    photo_url: str | None = None
    fields: list[Any] | None = None
    sex: str | int | None = None
    date_of_birth: str | None = None
    address: str | None = None
    phones: str | None = None
    email: str | None = None
    description: str | None = None
    can_authorize: bool | None = None
    language_code: str | None = None
    last_update: UnixTime | None = None


class Firm(RegosModel):
    """``schemas/api/references/firm.py``: the legal entity owning stocks; nothing of it is counted."""

    id: int | None = None
    name: Text = ""
    fullname: str | None = None
    group: dict[str, Any] | None = None
    deleted_mark: bool | None = None
    inn: str | None = None
    address: str | None = None
    last_update: UnixTime | None = None


class Stock(RegosModel):
    """``schemas/api/references/stock.py``. ``id`` is the branch key and is required; ``deleted_mark:
    null`` is read as not deleted (only DeleteMark sets it)."""

    id: int
    name: Text = ""
    address: str | None = None
    firm: Firm | None = None
    area: Decimal | None = None
    description: str | None = None
    deleted_mark: FalseIfNull = False
    last_update: UnixTime | None = None


class PriceTypeRef(RegosModel):
    id: int | None = None
    name: Text = ""


class OperatingCash(RegosModel):
    """``schemas/api/references/operating_cash.py``; ``stock`` (the register's branch) is required."""

    id: int
    stock: Stock
    virtual: FalseIfNull = False
    description: str | None = None
    key: str | None = None
    price_type: PriceTypeRef | None = None
    auto_close: bool | None = None
    max_cheque_quantity_in_session: int | None = None
    last_update: UnixTime | None = None


class DocCashSession(RegosModel):
    """``schemas/api/docs/doc_cash_session.py``; ``uuid`` and ``operating_cash_id`` place the shift's
    cheques in a branch and are required."""

    uuid: str
    code: str | None = None
    operating_cash_id: int
    start_date: UnixTime | None = None
    close_date: UnixTime | None = None
    closed: FalseIfNull = False
    start_user: UserRef | None = None
    close_user: UserRef | None = None
    start_amount: Decimal | None = None
    close_amount: Decimal | None = None
    last_update: UnixTime | None = None


class RetailReturnReason(RegosModel):
    """``schemas/api/references/retail_return_reason.py`` — an object, not a text."""

    id: int | None = None
    name: Text = ""
    description: str | None = None
    enabled: bool | None = None
    last_update: UnixTime | None = None


class RetailCard(RegosModel):
    """``schemas/api/references/retail_card.py``; not used by the figures (nested objects ignored)."""

    id: int | None = None
    barcode_value: str | None = None
    bonus_amount: Decimal | None = None
    enabled: bool | None = None
    last_update: UnixTime | None = None


class DocCheque(RegosModel):
    """``schemas/api/docs/doc_cheque.py``. What the figures use is strict: ``uuid``, ``date``,
    ``status`` (any name or code, see ``cheque_status``), ``session``, ``amount``, and ``is_return``
    (absent → a sale, as before; ``null`` is refused: a return counted as a sale flips its sign).
    Everything else accepts whatever the vendor allows, ``null`` included."""

    uuid: str
    date: UnixTime
    code: str | None = None
    status: Status
    session: str
    cashier: UserRef | None = None
    seller: UserRef | None = None
    is_return: bool = False
    return_reason: RetailReturnReason | None = None
    card: RetailCard | None = None
    amount: Money
    agregate_status: str | int | None = None
    doc_order_delivery_id: int | None = None
    last_update: UnixTime | None = None


class Currency(RegosModel):
    """``schemas/api/references/currency.py``. ``is_base: null`` stays unknown (None): the document's
    own rate decides then (``sync.engine.documents``)."""

    id: int | None = None
    code_num: int | None = None
    code_chr: Text = ""
    name: Text = ""
    exchange_rate: Money | None = None
    is_base: bool | None = None
    deleted: bool | None = None
    last_update: UnixTime | None = None


class PartnerRef(RegosModel):
    """A ``Partner`` (``schemas/api/references/partner.py``); only its name is shown anywhere."""

    id: int | None = None
    name: Text = ""


class _WholesaleBase(RegosModel):
    """Fields shared by ``DocWholeSale`` and ``DocWholeSaleReturn`` (``schemas/api/docs/doc_whole_sale*.py``).

    Strict where the figures depend: ``id``, ``date``, ``stock``, ``amount``, ``performed`` (null is
    refused: posted or not decides whether it counts). ``deleted_mark: null`` is read as not marked
    (only DeleteMark sets it, and the listing asks REGOS for ``deleted_mark: false``); ``blocked``
    is an editing lock, null → not locked. ``exchange_rate`` null or absent: 1 for a base-currency
    document, unusable for a foreign one (``sync.engine.documents.wholesale_fact`` refuses it).
    """

    id: int
    date: UnixTime
    code: str | None = None
    partner: PartnerRef | None = None
    stock: Stock
    currency: Currency | None = None
    contract: dict[str, Any] | None = None
    description: str | None = None
    amount: Money
    vat_calculation_type: str | int | None = None
    exchange_rate: Money | None = None
    attached_user: UserRef | None = None
    price_type: PriceTypeRef | None = None
    performed: bool
    deleted_mark: FalseIfNull = False
    blocked: FalseIfNull = False
    current_user_blocked: bool | None = None
    last_update: UnixTime | None = None


class DocWholeSale(_WholesaleBase):
    seller: UserRef | None = None


class DocWholeSaleReturn(_WholesaleBase):
    """Same shape as a shipment, but REGOS sends no seller on returns."""


class ItemRef(RegosModel):
    id: int
    name: Text = ""
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
    name: Text = ""
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
    """An ``EventItem`` of ``Event/Get`` (``schemas/api/event/event.py``): every field nullable.

    An event without ``event_id`` or ``action`` cannot be deduplicated or acted on; the replay skips
    it (and logs it). ``occurred_at: null`` is None here; the inbox uses the time it was read.
    ``data: null`` is an empty payload.
    """

    event_id: str | None = None
    occurred_at: datetime | None = None
    action: str | None = None
    data: Annotated[dict[str, Any], _none_as({})] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # REGOS documents occurred_at as UTC; an ISO string without an offset would otherwise
        # become a naive datetime.
        if value is None:
            return None
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class EventPage(RegosModel):
    """``EventGetResult``: ``events: null`` is no events, ``has_more: null`` is no more."""

    events: Annotated[list[RegosEvent], _none_as([])] = Field(default_factory=list)
    next_event_id: str | None = None
    has_more: FalseIfNull = False


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


class RetailReportCount(RegosModel):
    """``schemas/api/docs/retail_report.py`` ``RetailReportCount`` (``RetailReport/Counts``): REGOS's own
    count of sale and return cheques of the registers and period asked (reconciliation)."""

    sale_count: Annotated[int, _none_as(0)] = 0
    return_count: Annotated[int, _none_as(0)] = 0
    debt_amount: Decimal | None = None
    debt_paid_amount: Decimal | None = None
    gross_profit: Decimal | None = None


class RetailReportPayment(RegosModel):
    """``schemas/api/docs/retail_report.py`` ``RetailReportPayment`` (``RetailReport/Payments``): sale
    and return amounts of one payment type; null amounts are 0 (a type with no returns)."""

    payment_type_name: Text = ""
    sale_amount: Annotated[Money, _none_as(Decimal(0))] = Decimal(0)
    return_amount: Annotated[Money, _none_as(Decimal(0))] = Decimal(0)

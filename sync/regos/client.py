"""REGOS integration API client.  INTERFACE STUB — being implemented; signatures are the contract.

POST {base_url}/{key}/v1/{Method} with a JSON body over one requests.Session.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sync.regos.models import (
    ChequeItemOperation,
    ChequeStatus,
    DocCashSession,
    DocCheque,
    DocWholeSale,
    DocWholeSaleReturn,
    EventPage,
    OperatingCash,
    Stock,
    User,
)


@dataclass
class ClientStats:
    requests_made: int = 0                                 # HTTP requests sent (incl. retries)
    by_method: dict[str, int] = field(default_factory=dict)
    rate_limit_waits: int = 0                              # 8213 / 429 answers that were retried
    retries: int = 0                                       # all retried attempts


@dataclass(frozen=True)
class BatchStep:
    key: str
    path: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class BatchStepResult:
    key: str
    ok: bool
    result: Any
    error_code: int | None = None
    description: str = ""


class RegosClient:
    def __init__(self, *, base_url: str, key: str, rate_per_sec: float = 2.0, burst: int = 50,
                 timeout_s: float = 30.0, page_size: int = 1000, max_attempts: int = 5) -> None:
        raise NotImplementedError

    @classmethod
    def from_settings(cls) -> RegosClient:
        """Built from django.conf.settings.REGOS_* values."""
        raise NotImplementedError

    stats: ClientStats

    def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One request (rate-limited, retried); returns the envelope dict when ok:true, else raises."""
        raise NotImplementedError

    # --- documents, each yielding validated pages (lists), lazily ---
    def iter_cheques(self, *, first_day: date, last_day: date,
                     status: ChequeStatus | None = ChequeStatus.CLOSED) -> Iterator[list[DocCheque]]:
        """Cheques dated in Tashkent days first_day..last_day, sorted by date ascending; periods > 1 month
        are split into ≤1-month windows."""
        raise NotImplementedError

    def iter_wholesales(self, *, first_day: date, last_day: date, performed: bool | None = True,
                        deleted_mark: bool | None = False) -> Iterator[list[DocWholeSale]]:
        raise NotImplementedError

    def iter_wholesale_returns(self, *, first_day: date, last_day: date, performed: bool | None = True,
                               deleted_mark: bool | None = False) -> Iterator[list[DocWholeSaleReturn]]:
        raise NotImplementedError

    def get_cheques(self, uuids: Sequence[str]) -> list[DocCheque]:
        raise NotImplementedError

    def get_wholesales(self, ids: Sequence[int]) -> list[DocWholeSale]:
        raise NotImplementedError

    def get_wholesale_returns(self, ids: Sequence[int]) -> list[DocWholeSaleReturn]:
        raise NotImplementedError

    # --- references ---
    def get_cash_sessions(self, uuids: Sequence[str]) -> list[DocCashSession]:
        raise NotImplementedError

    def iter_cash_sessions(self, *, start: datetime, end: datetime) -> Iterator[list[DocCashSession]]:
        raise NotImplementedError

    def get_operating_cashes(self, ids: Sequence[int] | None = None) -> list[OperatingCash]:
        raise NotImplementedError

    def get_stocks(self) -> list[Stock]:
        raise NotImplementedError

    def get_users(self) -> list[User]:
        raise NotImplementedError

    def get_cheque_lines(self, cheque_uuid: str) -> list[ChequeItemOperation]:
        raise NotImplementedError

    def batch(self, steps: Sequence[BatchStep], *, stop_on_error: bool = False) -> list[BatchStepResult]:
        raise NotImplementedError

    def get_events(self, *, last_event_id: str | None = None, from_date: datetime | None = None,
                   limit: int = 1000, actions: Sequence[str] | None = None) -> EventPage:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

"""Typed REGOS errors. Messages name the method and never contain the integration key."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class RegosError(Exception):
    """Base: ``method`` that failed, ``attempts`` made, and a ``hint`` for the person reading it."""

    hint = _("Check the REGOS connection settings and try again.")

    def __init__(self, message: str, *, method: str = "", attempts: int = 1) -> None:
        super().__init__(message)
        self.method = method
        self.attempts = attempts


class RegosApiError(RegosError):
    """REGOS answered ok:false with an error code that retrying will not fix."""

    def __init__(self, message: str, *, method: str = "", attempts: int = 1, code: int = 0,
                 description: str = "") -> None:
        super().__init__(message, method=method, attempts=attempts)
        self.code = code
        self.description = description


class RegosAccessError(RegosApiError):
    """The key was rejected or lacks a permission (codes 1096, 9006; HTTP 401/403)."""

    hint = _("REGOS key rejected: check REGOS_INTEGRATION_KEY and the integration user's permissions.")


class RegosValidationError(RegosApiError):
    """REGOS refused the parameters (code 1008)."""

    hint = _("REGOS refused the request parameters; this is a bug in regos-admin, please report it.")


class RegosRateLimitError(RegosError):
    """Still rate-limited (8213 / HTTP 429) after every retry."""

    hint = _("REGOS rate limit: another program may be using the same key. Try again later.")


class RegosTransportError(RegosError):
    """HTTP 5xx, connection errors or timeouts, after every retry."""

    hint = _("REGOS could not be reached or kept failing: check the network and REGOS_BASE_URL, then retry.")


class RegosResponseError(RegosError):
    """The answer was not JSON, or did not match what REGOS documents (names the field)."""

    hint = _("REGOS sent an answer regos-admin does not understand; retry, and report it if it persists.")


class RegosListingChanged(RegosResponseError):
    """A paged listing's ``total`` changed between pages (documents added or removed mid-sync).

    The pages already handed out may have skipped or repeated rows, so the listing is abandoned
    rather than restarted: the run fails cleanly and the next run reads a consistent listing.
    """

    hint = _("Documents changed in REGOS while they were being read; run the sync again.")

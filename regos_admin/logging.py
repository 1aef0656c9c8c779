"""A logging filter that removes the deployment's secrets from every record.

The REGOS key, the webhook secret, ``SECRET_KEY`` and database/Redis passwords are masked, and so
is any long run of their characters (a key cut in the middle of a log line).
"""

from __future__ import annotations

import logging
from typing import Any

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter


class MaskRegosKeyFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from regos_admin.env import redact, secret_values

        secrets = secret_values()
        if secrets:
            try:
                message = record.getMessage()
            except Exception:  # a broken record is the logging module's problem, not ours
                return True
            masked = redact(message, secrets)
            if masked != message:
                record.msg = masked
                record.args = None
        return True


def _variants(secrets: list[str]) -> list[str]:
    """Each secret as the debug page may print it: raw, HTML-escaped, URL-quoted, repr-escaped."""
    import html
    from urllib.parse import quote

    out: list[str] = []
    for secret in secrets:
        out += [secret, html.escape(secret), html.escape(secret, quote=False), quote(secret, safe=""),
                repr(secret)[1:-1], html.escape(repr(secret)[1:-1])]
    return list(dict.fromkeys(out))


class SecretValueFilter(SafeExceptionReporterFilter):
    """Django's filter hides settings by *name*; this one also hides any value carrying a secret
    (``DATABASES['default']['HOST']`` with a MongoDB password, ``REDIS_URL``, ``Q_CLUSTER['redis']``,
    the environment copied into ``request.META`` by the development server)."""

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str) and cleansed != self.cleansed_substitute:
            from regos_admin.env import redact, secret_values

            secrets = secret_values()
            if redact(cleansed, secrets) != cleansed:
                return self.cleansed_substitute
        return cleansed


class RedactingExceptionReporter(ExceptionReporter):
    """The debug error page and error e-mails, with every secret (and long run of one) masked in the
    rendered text: whatever a frame variable, an exception message or a URL carried."""

    def get_traceback_html(self) -> str:
        return self._redact(super().get_traceback_html())

    def get_traceback_text(self) -> str:
        return self._redact(super().get_traceback_text())

    @staticmethod
    def _redact(text: str) -> str:
        from django.utils.safestring import mark_safe

        from regos_admin.env import redact, secret_values

        return mark_safe(redact(text, _variants(secret_values())))  # noqa: S308 — Django's own page, masked

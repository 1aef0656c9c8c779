"""A logging filter that removes the REGOS secrets (integration key, webhook secret) from every record."""

from __future__ import annotations

import logging


class MaskRegosKeyFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from django.conf import settings

        from regos_admin.env import mask

        secrets = [
            s for s in (getattr(settings, "REGOS_INTEGRATION_KEY", ""), getattr(settings, "REGOS_WEBHOOK_SECRET", ""))
            if s
        ]
        if secrets:
            message = record.getMessage()
            if any(secret in message for secret in secrets):
                for secret in secrets:
                    message = message.replace(secret, mask(secret))
                record.msg = message
                record.args = None
        return True

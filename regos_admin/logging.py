"""A logging filter that removes the REGOS integration key from every record."""

from __future__ import annotations

import logging


class MaskRegosKeyFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from django.conf import settings

        from regos_admin.env import mask_key

        key = getattr(settings, "REGOS_INTEGRATION_KEY", "")
        if key:
            message = record.getMessage()
            if key in message:
                record.msg = mask_key(message, key)
                record.args = None
        return True

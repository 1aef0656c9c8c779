"""AppConfigs used instead of Django's and django-q2's own when DATABASE_URL is a MongoDB URL.

They give the models an ObjectId primary key (django-mongodb-backend refuses AutoField), and
``MongoAdminConfig.ready()`` corrects one backend behaviour (see ``_dates_without_time_zone``).
Only ``regos_admin.mongo.configure_mongodb`` puts them in INSTALLED_APPS.
"""

from __future__ import annotations

import datetime
import functools

from django.contrib.admin.apps import AdminConfig
from django.contrib.auth.apps import AuthConfig
from django.contrib.contenttypes.apps import ContentTypesConfig
from django_q.apps import DjangoQConfig

OBJECT_ID = "django_mongodb_backend.fields.ObjectIdAutoField"


def _is_plain_date(expression: object) -> bool:
    from django.db.models import DateField, DateTimeField

    field = getattr(expression, "output_field", None)
    return isinstance(field, DateField) and not isinstance(field, DateTimeField)


def _dates_without_time_zone() -> None:
    """Truncating or extracting from a DateField must not shift it by TIME_ZONE. Idempotent.

    django-mongodb-backend 5.2.4 passes the current time zone to ``$dateTrunc`` (and to ``$month``,
    ``$dayOfMonth``, ...) for every Trunc/Extract, also on a DateField, which it stores as midnight
    UTC; Django's SQL backends apply a zone to datetimes only. With TIME_ZONE = Asia/Tashkent (UTC+5)
    midnight UTC of the 24th is 05:00 of the 24th in Tashkent, truncated to 00:00 Tashkent = 19:00 UTC
    of the 23rd, read back as the 23rd: ``dates("date", "day")`` and the admin's date_hierarchy showed
    every business day one day early (and the 1st of a month in the previous month). Extract was only
    wrong west of UTC (midnight UTC is the previous evening there); it is corrected the same way.
    """
    import django_mongodb_backend.functions  # noqa: F401 — registers the backend's TruncBase methods
    from django.db.models.functions.datetime import Extract, TruncBase

    as_mql = TruncBase.as_mql_expr
    if getattr(as_mql, "_regos_plain_dates", False):
        return
    convert_value = TruncBase.convert_value

    @functools.wraps(as_mql)
    def as_mql_expr(self, compiler, connection, *args, **kwargs):  # type: ignore[no-untyped-def]
        mql = as_mql(self, compiler, connection, *args, **kwargs)
        if _is_plain_date(self.lhs) and isinstance(mql, dict) and isinstance(mql.get("$dateTrunc"), dict):
            mql = {"$dateTrunc": {k: v for k, v in mql["$dateTrunc"].items() if k != "timezone"}}
        return mql

    @functools.wraps(convert_value)
    def trunc_convert_value(self, value, expression, connection):  # type: ignore[no-untyped-def]
        if (
            connection.vendor == "mongodb"
            and _is_plain_date(self.lhs)
            and _is_plain_date(self)
            and isinstance(value, datetime.datetime)
        ):
            return value.date()  # midnight UTC of that date, truncated in UTC
        return convert_value(self, value, expression, connection)

    extract = Extract.as_mql_expr

    @functools.wraps(extract)
    def extract_mql_expr(self, compiler, connection, *args, **kwargs):  # type: ignore[no-untyped-def]
        mql = extract(self, compiler, connection, *args, **kwargs)
        if _is_plain_date(self.lhs) and isinstance(mql, dict) and len(mql) == 1:
            ((operator, argument),) = mql.items()
            if isinstance(argument, dict) and set(argument) == {"date", "timezone"}:
                mql = {operator: argument["date"]}
        return mql

    as_mql_expr._regos_plain_dates = True  # type: ignore[attr-defined]
    TruncBase.as_mql_expr = as_mql_expr
    TruncBase.convert_value = trunc_convert_value
    Extract.as_mql_expr = extract_mql_expr


class MongoAdminConfig(AdminConfig):
    default_auto_field = OBJECT_ID

    def ready(self) -> None:
        super().ready()
        _dates_without_time_zone()


class MongoAuthConfig(AuthConfig):
    default_auto_field = OBJECT_ID


class MongoContentTypesConfig(ContentTypesConfig):
    default_auto_field = OBJECT_ID


class MongoDjangoQConfig(DjangoQConfig):
    default_auto_field = OBJECT_ID

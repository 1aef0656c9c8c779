"""Fields that make the payroll collections readable and writable by the Node.js payroll system.

One model definition serves both databases: the field decides per connection how a value is stored.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from bson import Decimal128, ObjectId
from bson.errors import InvalidId
from django.core import exceptions
from django.db import models
from django.db.models.expressions import Col
from django.utils.translation import gettext_lazy as _

ZERO = Decimal("0.00")


def new_object_id() -> str:
    return str(ObjectId())


def is_object_id(value: object) -> bool:
    """Whether ``value`` is a key as DocumentIdField writes it (24 lower-case hex digits)."""
    return isinstance(value, str) and len(value) == 24 and all(c in "0123456789abcdef" for c in value)


def _is_mongodb(connection: Any) -> bool:
    return connection.vendor == "mongodb"


class DocumentIdField(models.CharField):
    """The document's ``_id``: an ObjectId on MongoDB (what mongoose creates and ``populate`` follows),
    its 24 lower-case hex digits on SQLite. In Python it is always that 24-hex ``str``.

    Generated in Python (not by the server) so an insert never has to read a key back, and so the
    value is the same text in the admin, in URLs and in ``employeeKey``. Foreign keys to it store
    the same type (ObjectId on MongoDB), which is what mongoose's ``ref`` expects.
    """

    description = _("Object Id")
    default_error_messages = {"invalid": _("“%(value)s” is not a valid Object Id.")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["max_length"] = 24
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("default", new_object_id)
        kwargs.setdefault("editable", False)
        kwargs["db_column"] = "_id"
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for key in ("max_length", "db_column"):
            kwargs.pop(key, None)
        return name, path, args, kwargs

    def db_type(self, connection: Any) -> str | None:
        return "objectId" if _is_mongodb(connection) else super().db_type(connection)

    def rel_db_type(self, connection: Any) -> str | None:
        return self.db_type(connection)

    def to_python(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        try:
            return str(ObjectId(value if isinstance(value, ObjectId) else str(value)))
        except (InvalidId, TypeError):
            raise exceptions.ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None

    def get_prep_value(self, value: Any) -> str | None:
        return self.to_python(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        value = self.to_python(value)
        if value is not None and _is_mongodb(connection):
            return ObjectId(value)
        return value

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        return None if value is None else str(value)


def money_from_db(value: Any) -> Decimal | None:
    """Money as another writer may have stored it: Decimal128 (ours), a Number (int or double, as
    mongoose writes ``type: Number``), a numeric string, or nothing at all."""
    if value is None:
        return None
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    elif isinstance(value, float):
        # A double is the nearest binary fraction of what was meant; its shortest repr is what was typed.
        value = Decimal(repr(value))
    try:
        return Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError, ValueError):
        return None


class MoneyField(models.DecimalField):
    """Sums in UZS with tiyin (Decimal128 on MongoDB). Reads whatever a document holds: a missing or
    unreadable figure is 0, an int or double is taken at its decimal value — documents created by
    the Node side must never make a sync fail."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 18)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("default", ZERO)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        # Runs after the backend's converter (Decimal128 → Decimal; a double arrives as its binary
        # expansion, which the quantize brings back to tiyin). Only a stored figure that is missing
        # becomes 0: an aggregate of nothing stays None, as callers expect.
        money = money_from_db(value)
        if money is None and isinstance(expression, Col):
            return ZERO
        return money

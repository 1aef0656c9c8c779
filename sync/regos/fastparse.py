"""A listing page validated straight from its JSON bytes by pydantic-core, when that is certain to give
exactly what the client's general path gives.

The general path (``RegosClient._interpret`` + ``parse_entities``) parses the body with
``json.loads(parse_float=Decimal)`` and validates the entities from the Python objects; most of its cost
is building those objects. Here pydantic-core parses and validates in one pass. Its JSON parser turns a
fractional number into a float (the text, and so the exact Decimal, would be lost), so before parsing,
every money number with a fraction written as ``"<money field>":<number>`` is quoted: the model's money
validator then makes the Decimal from the number's own text (see ``sync.regos.models.FAST_JSON``).

Validation runs in strict mode with ``FAST_JSON`` set, so whatever the two paths could read differently
fails here instead: a float anywhere a field is read (an unquoted money number, an id of ``5.0``, a unix
time of ``1.5``), a bool or a string where a number belongs, a paging field that is not a plain integer,
``ok:false``, a missing field. ``page_from_json`` then answers None and the caller takes the general
path, which gives its usual result or error. So does a body holding ``NaN``/``Infinity`` (``json.loads``
refuses them, pydantic-core would accept them in an ignored field) and any body pydantic-core cannot
parse. Fields the models ignore are parsed, never read: their numbers do not matter.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model

from sync.regos.models import FAST_JSON, _strict_decimal, _unix_to_datetime


class FastPage(dict[str, Any]):
    """An envelope as ``RegosClient._check_envelope`` returns it, with ``result`` already validated.

    ``ok`` is True, ``result`` the list of model instances, ``next_offset``/``total`` ints or None.
    """


_Rules = tuple[tuple[re.Pattern[bytes], bytes], ...]

# A JSON number with a fraction and no exponent after a money key and its colon, and the whole number (the
# lookahead: what follows a JSON value). Other spellings are not quoted; they fail validation here.
_NUMBER = rb'":([ \t\r\n]*)(-?(?:0|[1-9][0-9]*)\.[0-9]+)(?=[,}\] \t\r\n])'
_SCALARS = (str, int, bool, type(None), datetime)  # a Decimal only as Money


def _money_keys(model: type[BaseModel]) -> set[str] | None:
    """Names of the money fields anywhere in ``model``; None if the model holds something this module
    cannot vouch for: a field type where a parsed float or a quoted number could be read differently
    (``Any``, a dict, a list, a Decimal that is not ``Money``, money in a union with anything but None),
    a money name that is also the name of another kind of field, an alias, extra fields kept."""
    money: set[str] = set()
    other: set[str] = set()
    todo, seen = [model], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current.model_config.get("extra") not in (None, "ignore") or not _vetted_validators(current):
            return None
        for name, info in current.model_fields.items():
            if info.alias is not None or info.validation_alias is not None:
                return None
            parts = _flatten(info.annotation, _is_money(info.metadata))
            if any(is_money for _, is_money in parts):
                if not all(is_money or part is type(None) for part, is_money in parts):
                    return None
                money.add(name)
                continue
            other.add(name)
            for part, _ in parts:
                if isinstance(part, type) and issubclass(part, BaseModel):
                    todo.append(part)
                elif not (part in _SCALARS or (isinstance(part, type) and issubclass(part, Enum))):
                    return None
    return None if money & other else money


def _vetted_validators(model: type[BaseModel]) -> bool:
    """Whether every validator of ``model`` that sees raw input is one checked to read pydantic-core's
    JSON values as the general path's (after-validators see validated values: the same on both paths)."""
    decorators = model.__pydantic_decorators__
    if any(d.info.mode != "after" for d in decorators.model_validators.values()):
        return False
    return all(d.info.mode == "after" or (model.__qualname__, d.cls_var_name) in _VETTED
               for d in decorators.field_validators.values())


# DocCheque._status maps an int code to its status and passes anything else on unchanged.
_VETTED = frozenset({("DocCheque", "_status")})


def _is_money(metadata: Sequence[Any]) -> bool:
    validators = [meta.func for meta in metadata if hasattr(meta, "func")]
    if any(func not in (_strict_decimal, _unix_to_datetime) for func in validators):
        raise _Unvetted
    return _strict_decimal in validators


class _Unvetted(Exception):
    """An annotated validator neither of the two this module knows (see ``sync.regos.models.FAST_JSON``)."""


def _flatten(annotation: Any, money: bool = False) -> list[tuple[Any, bool]]:
    """The types a value of ``annotation`` may take, each with "is it Money"."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        return _flatten(inner, money or _is_money(metadata))
    if origin is Union or origin is types.UnionType:
        return [part for arg in typing.get_args(annotation) for part in _flatten(arg, money)]
    if money and annotation is not Decimal:
        money = False  # Annotated[Optional[...]]: the None part
    return [(annotation, money)]  # a list[...] or dict[...] among them is not vouched for


@lru_cache(maxsize=64)
def _plan(model: type[BaseModel]) -> tuple[TypeAdapter[Any], _Rules] | None:
    try:
        keys = _money_keys(model)
    except _Unvetted:
        keys = None
    if keys is None:
        return None
    envelope = create_model(
        f"FastEnvelope{model.__name__}",
        __config__=ConfigDict(extra="ignore"),
        ok=(bool, ...),  # strict: only true/false (Literal[True] would take 1)
        result=(list[model], ...),  # type: ignore[valid-type]
        next_offset=(int | None, None),
        total=(int | None, None),
    )
    rules = tuple(
        (re.compile(b'"' + re.escape(key.encode()) + _NUMBER), b'"' + key.encode() + rb'":\1"\2"')
        for key in sorted(keys)
    )
    return TypeAdapter(envelope), rules


def page_from_json(content: bytes, model: type[BaseModel]) -> FastPage | None:
    """The validated page of a plain successful listing answer, or None: "use the general path"."""
    plan = _plan(model)
    if plan is None or b"NaN" in content or b"Infinity" in content:
        return None
    adapter, rules = plan
    for pattern, replacement in rules:
        content = pattern.sub(replacement, content)
    token = FAST_JSON.set(True)
    try:
        envelope = adapter.validate_json(content, strict=True)
    except Exception:  # noqa: BLE001 - ValidationError, or e.g. OverflowError from a validator: the general
        return None    # path meets the same and answers (or raises) as it always has
    finally:
        FAST_JSON.reset(token)
    if envelope.ok is not True:
        return None
    return FastPage(ok=True, result=envelope.result, next_offset=envelope.next_offset, total=envelope.total)

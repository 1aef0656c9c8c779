"""Django's ModelBackend without a join in the permission lookup.

``ModelBackend`` reads ``values_list("content_type__app_label", "codename")``: a value projected across
a foreign key. On MongoDB that is a ``$lookup`` per permission check, and the in-process MongoDB test
server answers it wrongly (``1`` instead of the label). Reading content-type ids and mapping them to
labels in Python gives the same set on every backend.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType


class PermissionBackend(ModelBackend):
    def _get_permissions(self, user_obj: Any, obj: Any, from_name: str) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        cache_name = f"_{from_name}_perm_cache"
        if not hasattr(user_obj, cache_name):
            if user_obj.is_superuser:
                perms = Permission.objects.all()
            else:
                perms = getattr(self, f"_get_{from_name}_permissions")(user_obj)
            rows = list(perms.values_list("content_type_id", "codename").order_by())
            labels = dict(
                ContentType.objects.filter(id__in={ct for ct, _ in rows}).values_list("id", "app_label")
            )
            setattr(user_obj, cache_name, {f"{labels[ct]}.{name}" for ct, name in rows if ct in labels})
        return getattr(user_obj, cache_name)

"""Migration operations for the one migration set that serves SQLite and MongoDB (see payroll.0003).

Kept apart from regos_admin.mongo, which settings import before Django is set up.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation


class NotOnMongoDB(Operation):
    """A schema operation that runs on SQL databases only; its state change applies everywhere.

    For a change MongoDB needs no schema work for, or has done by hand in a RunPython before it —
    e.g. a primary key that becomes the document's own ``_id``, which MongoDB creates by itself and
    which the backend would try to ``$rename`` onto (``_id`` is immutable).
    """

    reduces_to_sql = False

    def __init__(self, operation: Operation) -> None:
        self.operation = operation

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, [self.operation], {}

    def state_forwards(self, app_label: str, state: Any) -> None:
        self.operation.state_forwards(app_label, state)

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "mongodb":
            self.operation.database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "mongodb":
            self.operation.database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self) -> str:
        return f"{self.operation.describe()} (not on MongoDB)"

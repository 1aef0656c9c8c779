"""Identity and links the Node.js payroll system's way (mongoose): every document is identified by its
``_id`` ObjectId and every reference is an ObjectId under a camelCase name (``branchId``,
``employeeId``). Money fields read whatever another writer stored (payroll.fields.MoneyField). New: ``monthlysales``,
month totals per branch and employee (filled by the next sync's totals step).

The two databases take different paths to the same state:
- SQLite: each UUID key (and every foreign key to it, here and in the sync app) keeps its first 24 hex
  digits — a valid ObjectId text, unique in practice (96 random bits) — then the tables are rebuilt
  with the ``_id`` column.
- MongoDB: documents already have an ``_id`` ObjectId, the key Django used was a separate ``id``
  field. Every reference is rewritten from that ``id`` to the document's ``_id``, then ``id`` is
  dropped; the primary-key AlterField is skipped (``NotOnMongoDB``): ``_id`` cannot be renamed onto.
There is no way back: the old UUIDs are not kept.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models

import payroll.fields
from regos_admin.mongo_ops import NotOnMongoDB

MONEY = {"decimal_places": 2, "default": payroll.fields.ZERO, "max_digits": 18}
KEYED = ("branch", "employee", "dailysaleshistory")


def _relations(apps, model_name):
    """Every foreign key to the model, whatever app it is in — also those with ``related_name="+"``,
    which ``_meta.related_objects`` leaves out."""
    model = apps.get_model("payroll", model_name)
    return [rel for rel in model._meta.get_fields(include_hidden=True)
            if rel.auto_created and not rel.concrete and rel.many_to_one is False and rel.one_to_many]


def _references(apps, model_name):
    """(table, column) of every foreign key to the model."""
    return [(rel.related_model._meta.db_table, rel.field.column) for rel in _relations(apps, model_name)]


def remake_hidden_referrers(apps, schema_editor):
    """SQLite: rebuild the tables whose foreign keys point at a key that changed type and column.

    Django's SQLite AlterField rebuilds only the tables of visible reverse relations; a foreign key
    with ``related_name="+"`` (sync.SyncRun.branch) would keep referencing the dropped ``id`` column.
    """
    if schema_editor.connection.vendor == "mongodb":
        return
    done = set()
    for model_name in KEYED:
        for rel in _relations(apps, model_name):
            model = rel.related_model
            if model._meta.label_lower not in done and model._meta.app_label != "payroll":
                done.add(model._meta.label_lower)
                schema_editor._remake_table(model)


def ids_to_object_ids(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "mongodb":
        _mongo_forwards(apps, connection.database)
    else:
        _sql_forwards(apps, schema_editor)


def _sql_forwards(apps, schema_editor):
    q = schema_editor.quote_name
    for model_name in KEYED:
        model = apps.get_model("payroll", model_name)
        targets = [(model._meta.db_table, model._meta.pk.column), *_references(apps, model_name)]
        for table, column in targets:
            # Django keeps a UUID as 32 hex digits on SQLite (no dashes).
            schema_editor.execute(
                f"UPDATE {q(table)} SET {q(column)} = lower(substr(replace({q(column)}, '-', ''), 1, 24)) "
                f"WHERE {q(column)} IS NOT NULL"
            )
    history = apps.get_model("payroll", "dailysaleshistory")._meta.db_table
    schema_editor.execute(
        f"UPDATE {q(history)} SET {q('employeeKey')} = lower(substr(replace({q('employeeKey')}, '-', ''), 1, 24)) "
        f"WHERE {q('employeeKey')} <> 'unassigned'"
    )


def _mongo_forwards(apps, db):
    for model_name in KEYED:
        collection = db[apps.get_model("payroll", model_name)._meta.db_table]
        # Only documents this app created have an ``id``: the Node side's own ones are left as they are.
        object_ids = {doc["id"]: doc["_id"] for doc in collection.find({"id": {"$exists": True}}, {"id": 1})}
        for table, column in _references(apps, model_name):
            for old, new in object_ids.items():
                db[table].update_many({column: old}, {"$set": {column: new}})
        if model_name == "employee":
            for old, new in object_ids.items():
                db["dailysaleshistories"].update_many(
                    {"employeeKey": str(uuid.UUID(str(old)))}, {"$set": {"employeeKey": str(new)}}
                )
        for name, index in collection.index_information().items():
            if [key for key, _ in index["key"]] == ["id"]:
                collection.drop_index(name)
        collection.update_many({"id": {"$exists": True}}, {"$unset": {"id": ""}})


def _document_id(model_name):
    return NotOnMongoDB(migrations.AlterField(
        model_name=model_name, name="id",
        field=payroll.fields.DocumentIdField(
            default=payroll.fields.new_object_id, editable=False, primary_key=True, serialize=False
        ),
    ))


def _money(model_name, name, column, verbose_name, **extra):
    return migrations.AlterField(
        model_name=model_name, name=name,
        field=payroll.fields.MoneyField(db_column=column, verbose_name=verbose_name, **MONEY, **extra),
    )


class Migration(migrations.Migration):

    dependencies = [
        ("payroll", "0003_net_figure_labels"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="dailysaleshistory", name="history_one_row_per_day"),
        migrations.RunPython(ids_to_object_ids, elidable=False),
        *(_document_id(model_name) for model_name in KEYED),
        migrations.RunPython(remake_hidden_referrers, elidable=False),
        migrations.AlterField(
            model_name="employee", name="branch",
            field=models.ForeignKey(
                blank=True, db_column="branchId", null=True, on_delete=django.db.models.deletion.SET_NULL,
                related_name="employees", to="payroll.branch", verbose_name="home branch",
            ),
        ),
        migrations.AlterField(
            model_name="dailysaleshistory", name="branch",
            field=models.ForeignKey(
                db_column="branchId", on_delete=django.db.models.deletion.CASCADE, related_name="+",
                to="payroll.branch", verbose_name="branch",
            ),
        ),
        migrations.AlterField(
            model_name="dailysaleshistory", name="employee",
            field=models.ForeignKey(
                blank=True, db_column="employeeId", null=True, on_delete=django.db.models.deletion.SET_NULL,
                related_name="+", to="payroll.employee", verbose_name="employee",
            ),
        ),
        _money("branch", "retail_sales", "retailSales", "net retail sales (month to date)"),
        _money("branch", "wholesale_sales", "wholesaleSales", "net wholesale sales (month to date)"),
        _money("branch", "total_sales", "totalSales", "net total (month to date)"),
        _money("employee", "daily_sales", "dailySales", "net retail sales (latest day)",
               help_text="Net retail sales of the latest synced business day."),
        _money("employee", "wholesale_sales", "wholesaleSales", "net wholesale sales (latest day)",
               help_text="Net wholesale sales of the latest synced business day."),
        _money("dailysaleshistory", "retail_sales", "retailSales", "retail sales"),
        _money("dailysaleshistory", "retail_returns", "retailReturns", "retail returns"),
        _money("dailysaleshistory", "wholesale_sales", "wholesaleSales", "wholesale sales"),
        _money("dailysaleshistory", "wholesale_returns", "wholesaleReturns", "wholesale returns"),
        _money("dailysaleshistory", "total_sales", "totalSales", "net total"),
        migrations.AddConstraint(
            model_name="dailysaleshistory",
            constraint=models.UniqueConstraint(fields=("date", "branch", "employee_key"), name="history_one_row_per_day"),
        ),
        # Month totals per branch and employee for the Node payroll (sync.engine.history).
        migrations.CreateModel(
            name='MonthlySales',
            fields=[
                ('id', payroll.fields.DocumentIdField(default=payroll.fields.new_object_id, editable=False, primary_key=True, serialize=False)),
                ('month', models.CharField(help_text='YYYY-MM', max_length=7, verbose_name='month')),
                ('employee_key', models.CharField(db_column='employeeKey', editable=False, max_length=24)),
                ('retail_sales', payroll.fields.MoneyField(db_column='retailSales', decimal_places=2, default=payroll.fields.ZERO, max_digits=18, verbose_name='retail sales')),
                ('retail_returns', payroll.fields.MoneyField(db_column='retailReturns', decimal_places=2, default=payroll.fields.ZERO, max_digits=18, verbose_name='retail returns')),
                ('wholesale_sales', payroll.fields.MoneyField(db_column='wholesaleSales', decimal_places=2, default=payroll.fields.ZERO, max_digits=18, verbose_name='wholesale sales')),
                ('wholesale_returns', payroll.fields.MoneyField(db_column='wholesaleReturns', decimal_places=2, default=payroll.fields.ZERO, max_digits=18, verbose_name='wholesale returns')),
                ('total_sales', payroll.fields.MoneyField(db_column='totalSales', decimal_places=2, default=payroll.fields.ZERO, max_digits=18, verbose_name='net total')),
                ('cheque_count', models.PositiveIntegerField(db_column='chequeCount', default=0, verbose_name='cheques')),
                ('computed_at', models.DateTimeField(db_column='computedAt')),
                ('branch', models.ForeignKey(db_column='branchId', on_delete=django.db.models.deletion.CASCADE, related_name='+', to='payroll.branch', verbose_name='branch')),
                ('employee', models.ForeignKey(blank=True, db_column='employeeId', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='payroll.employee', verbose_name='employee')),
            ],
            options={
                'verbose_name': 'monthly sales',
                'verbose_name_plural': 'monthly sales',
                'db_table': 'monthlysales',
                'ordering': ['-month'],
                'indexes': [models.Index(fields=['month'], name='monthly_month')],
                'constraints': [models.UniqueConstraint(fields=('month', 'branch', 'employee_key'), name='monthly_one_row_per_month')],
            },
        ),
    ]

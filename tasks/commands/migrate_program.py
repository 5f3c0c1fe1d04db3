"""Run inside a one-off container of the image (`manage.py shell -c`), never imported by
composeship: Django's own `migrate`, with the operations composeship named made safe
for the code that still runs against the database, then the drops it deferred.

- KEEP: an AddField whose default stays in the database. Django adds a NOT NULL column
  with its default and drops the default at once; here the default is set again in the
  same transaction, so that no other session ever sees the column without it and the
  old release's INSERTs, which leave the column out, keep working.
- DEFER: a RemoveField or DeleteModel applied without its drop: the migration is
  recorded as applied (what depends on it runs), the column is made nullable and its
  foreign key constraints go, so that the new release's INSERTs and DELETEs work while
  the old release still reads it.
- DROP: the deferred drops, run once no old code reads what they drop, each only when
  the migration is applied, the models the code knows no longer have it, and it is
  still in the database.
- RESTORE: a deferred drop that never ran, reversed by a rollback: the column or table
  is still there, so Django's re-creation of it is skipped.

What it did is printed as JSON lines after a mark once `migrate` is done (or has
failed): Django prints `Applying X...` and ` OK` on one line around the migration, so a
line printed meanwhile would split it."""

MARK = "COMPOSESHIP-MIGRATE "
RECORDS = []


def emit(**record):
    RECORDS.append(record)


def report():
    import json

    for record in RECORDS:
        print(MARK + json.dumps(record, default=str), flush=True)
    RECORDS.clear()


class Changed:
    """An operation as Django sees it, with composeship's database step instead of its own."""

    def __init__(self, operation, forwards=None, backwards=None):
        self._operation = operation
        self._forwards = forwards
        self._backwards = backwards

    def __getattr__(self, name):
        return getattr(self._operation, name)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        run = self._forwards or self._operation.database_forwards
        return run(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        run = self._backwards or self._operation.database_backwards
        return run(app_label, schema_editor, from_state, to_state)


def quoted(schema_editor, *names):
    return [schema_editor.quote_name(name) for name in names]


def keep_default(label, index, operation, expression):
    def forwards(app_label, schema_editor, from_state, to_state):
        from django.db import transaction

        model = to_state.apps.get_model(app_label, operation.model_name)
        if not operation.allow_migrate_model(schema_editor.connection.alias, model):
            return operation.database_forwards(app_label, schema_editor, from_state, to_state)
        with transaction.atomic(using=schema_editor.connection.alias):
            operation.database_forwards(app_label, schema_editor, from_state, to_state)
            field = model._meta.get_field(operation.name)
            table, column = quoted(schema_editor, model._meta.db_table, field.column)
            alter = f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT "
            if expression:
                schema_editor.execute(alter + expression)
                shown = expression
            else:
                # The value Django itself filled the existing rows with (a one-off default
                # of makemigrations' prompt included), never parsed from SQL.
                saved = field.default
                field.default = operation.field.default
                try:
                    value = schema_editor.effective_default(field)
                finally:
                    field.default = saved
                if value is None:
                    return None
                schema_editor.execute(alter + "%s", [value])
                shown = repr(value)[:60]
        emit(kind="kept", migration=label, operation=index, column=f"{model._meta.db_table}.{field.column}", default=shown)
        return None

    return forwards


def foreign_keys_dropped(schema_editor, model, field):
    for name in schema_editor._constraint_names(model, [field.column], foreign_key=True):
        schema_editor.execute(schema_editor._delete_fk_sql(model, name))


def defer_drop(label, index, operation):
    def forwards(app_label, schema_editor, from_state, to_state):
        kind = type(operation).__name__
        name = operation.model_name if kind == "RemoveField" else operation.name
        model = from_state.apps.get_model(app_label, name)
        if not operation.allow_migrate_model(schema_editor.connection.alias, model):
            return None
        if kind == "RemoveField":
            field = model._meta.get_field(operation.name)
            if not field.many_to_many and field.column:
                if field.remote_field is not None and getattr(field, "db_constraint", False):
                    foreign_keys_dropped(schema_editor, model, field)
                if not field.null:
                    table, column = quoted(schema_editor, model._meta.db_table, field.column)
                    schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL")
        else:
            for field in model._meta.local_fields:
                if field.remote_field is not None and getattr(field, "db_constraint", False):
                    foreign_keys_dropped(schema_editor, model, field)
        emit(kind="deferred", migration=label, operation=index)
        return None

    return forwards


def still_there(connection, model, operation):
    """Is what the operation drops still in the database?"""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        if type(operation).__name__ == "DeleteModel":
            return model._meta.db_table in tables
        field = model._meta.get_field(operation.name)
        if field.many_to_many:
            return field.remote_field.through._meta.db_table in tables
        if model._meta.db_table not in tables:
            return False
        return field.column in [column.name for column in connection.introspection.get_table_description(cursor, model._meta.db_table)]


def restore(label, index, operation):
    def backwards(app_label, schema_editor, from_state, to_state):
        from django.db.migrations.operations import DeleteModel

        name = operation.name if isinstance(operation, DeleteModel) else operation.model_name
        model = to_state.apps.get_model(app_label, name)
        if still_there(schema_editor.connection, model, operation):
            emit(kind="restored", migration=label, operation=index)
            return None
        return operation.database_backwards(app_label, schema_editor, from_state, to_state)

    return backwards


def install(keep, defer, restore_drops):
    """Change the named operations of the migrations `migrate` applies or reverses."""
    from django.db.migrations.migration import Migration

    changes = {}
    for label, index, expression in keep:
        changes.setdefault(label, {})[index] = lambda op, label=label, index=index, expression=expression: Changed(op, forwards=keep_default(label, index, op, expression))
    for label, index in defer:
        changes.setdefault(label, {})[index] = lambda op, label=label, index=index: Changed(op, forwards=defer_drop(label, index, op))
    for label, index in restore_drops:
        changes.setdefault(label, {})[index] = lambda op, label=label, index=index: Changed(op, backwards=restore(label, index, op))
    if not changes:
        return

    def changed(method):
        def run(self, project_state, schema_editor, *args, **kwargs):
            wanted = changes.get(f"{self.app_label}.{self.name}")
            if not wanted:
                return method(self, project_state, schema_editor, *args, **kwargs)
            saved = self.operations
            self.operations = [wanted[i](op) if i in wanted else op for i, op in enumerate(saved)]
            try:
                return method(self, project_state, schema_editor, *args, **kwargs)
            finally:
                self.operations = saved

        return run

    Migration.apply = changed(Migration.apply)
    Migration.unapply = changed(Migration.unapply)


def drop(deferred):
    """Run each deferred drop whose time has come, in the order given."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection)
    applied = set(loader.applied_migrations)
    final = loader.project_state()
    for label, index in deferred:
        app, name = label.split(".", 1)
        if (app, name) not in loader.graph.nodes:
            emit(kind="drop", migration=label, operation=index, state="unknown", why="the code does not have this migration")
            continue
        if (app, name) not in applied:
            emit(kind="drop", migration=label, operation=index, state="waiting", why="the migration is not applied")
            continue
        migration = loader.graph.nodes[app, name]
        state = loader.project_state((app, name), at_end=False)
        for earlier in migration.operations[:index]:
            earlier.state_forwards(app, state)
        operation = migration.operations[index]
        after = state.clone()
        operation.state_forwards(app, after)
        kind = type(operation).__name__
        model_name = (operation.model_name if kind == "RemoveField" else operation.name).lower()
        if (app, model_name) in final.models and (kind == "DeleteModel" or operation.name in final.models[app, model_name].fields):
            emit(kind="drop", migration=label, operation=index, state="kept", why="the models of the code have it again")
            continue
        model = state.apps.get_model(app, model_name)
        if not still_there(connection, model, operation):
            emit(kind="drop", migration=label, operation=index, state="gone")
            continue
        with connection.schema_editor() as editor:
            operation.database_forwards(app, editor, state, after)
        emit(kind="drop", migration=label, operation=index, state="dropped")


def main(targets=None, keep=(), defer=(), drops=(), restore_drops=(), backwards=()):
    """`migrate` up to each (app, migration) of `targets` (None: everything; empty:
    nothing), or back to each of `backwards`, with the operations named made safe,
    then the deferred drops."""
    from django.core.management import call_command

    install([tuple(item) for item in keep], [tuple(item) for item in defer], [tuple(item) for item in restore_drops])
    try:
        for app, name in backwards:
            call_command("migrate", app, name, interactive=False)
        if targets is None:
            call_command("migrate", interactive=False)
        for app, name in targets or ():
            call_command("migrate", app, name, interactive=False)
        if drops:
            drop([tuple(item) for item in drops])
    finally:
        print(flush=True)
        report()

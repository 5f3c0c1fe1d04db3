"""Run inside a one-off container of the image (`manage.py shell -c`), never imported
by composeship: every migration Django knows, in plan order, with whether it is
applied, then for each pending one the migrations it depends on (as Django resolved
them), its acknowledgements and what each of its operations does to the database, as JSON lines after a mark. The verdicts are
decided by composeship (facts/migration_safety.py) from these plain facts."""

MARK = "COMPOSESHIP-MIGRATION "


def emit(**record):
    import json

    print(MARK + json.dumps(record, default=str), flush=True)


def plain(value):
    """An acknowledgement as text: django-safemigrate's Safe (a class with `when`, or an
    older Enum), syzygy's Stage, or composeship's own string."""
    when = getattr(value, "when", value)
    return getattr(when, "value", when) if value is not None else None


def dotted(function):
    """`django.utils.timezone.now`, `uuid.uuid4`, `datetime.date.today`: where a callable
    default lives, so that composeship can tell which database expression matches it."""
    owner = getattr(function, "__self__", None)
    module = getattr(function, "__module__", None) or getattr(owner, "__module__", None) or ""
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or type(function).__name__
    return f"{module}.{name}" if module else name


def column(field, connection):
    if field is None:
        return None
    try:
        db_type = field.db_type(connection)
    except Exception:  # noqa: BLE001 - a field the backend cannot type is reported as such
        db_type = None
    from django.db.models.fields import NOT_PROVIDED

    db_default = getattr(field, "db_default", NOT_PROVIDED)
    default = field.default if field.has_default() else None
    auto_now = bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))
    return {
        "type": db_type,
        "field": field.get_internal_type(),
        "null": bool(field.null),
        "default": field.has_default(),
        # A constant the database can keep as it is, or a callable (its dotted name)
        # that it can only match with an expression of its own.
        "default_callable": dotted(default) if callable(default) else None,
        "auto_now": auto_now,
        "db_default": db_default is not NOT_PROVIDED,
        "unique": bool(field.unique) and not field.primary_key,
        "index": bool(field.db_index) and not field.unique,
        "m2m": bool(field.many_to_many),
    }


def field_of(state, app, model, name):
    try:
        return state.models[app, model.lower()].fields[name]
    except KeyError:
        return None


def describe(op, app, state, connection, new_models):
    kind = type(op).__name__
    model = getattr(op, "model_name", None) or getattr(op, "name", None) or ""
    facts = {"operation": kind, "description": op.describe(), "reversible": bool(op.reversible), "model": model}
    facts["new_table"] = (app, str(model).lower()) in new_models
    if kind == "AddField":
        facts["new"] = column(op.field, connection)
        facts["field"] = op.name
    elif kind == "RemoveField":
        facts["old"] = column(field_of(state, app, op.model_name, op.name), connection)
        facts["field"] = op.name
    elif kind == "AlterField":
        facts["old"] = column(field_of(state, app, op.model_name, op.name), connection)
        facts["new"] = column(op.field, connection)
        facts["field"] = op.name
    elif kind == "RenameField":
        facts["field"], facts["new_name"] = op.old_name, op.new_name
    elif kind == "RenameModel":
        facts["model"], facts["new_name"] = op.old_name.lower(), op.new_name.lower()
    elif kind in ("AddConstraint",):
        facts["constraint"] = type(op.constraint).__name__
    elif kind in ("AlterUniqueTogether", "AlterIndexTogether"):
        option = "unique_together" if kind == "AlterUniqueTogether" else "index_together"
        try:
            old = state.models[app, op.name.lower()].options.get(option) or set()
        except KeyError:
            old = set()
        facts["added"] = sorted(sorted(item) for item in set(map(tuple, getattr(op, "option_value", None) or ())) - set(map(tuple, old)))
    elif kind == "SeparateDatabaseAndState":
        facts["database"] = [describe(inner, app, state, connection, new_models) for inner in op.database_operations]
    return facts


def main(pending_only=None):
    """`pending_only`: the labels to judge as the pending ones, whatever the database has
    applied (the local check: what the deployed code lacks, which the local loop has
    applied already); None: what the database lacks."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    loader = executor.loader
    emit(kind="database", vendor=connection.vendor, version=getattr(connection, "pg_version", None))
    order, seen = [], set()
    for leaf in sorted(loader.graph.leaf_nodes()):
        for node in loader.graph.forwards_plan(leaf):
            if node not in seen:
                seen.add(node)
                order.append(node)
    if pending_only is None:
        applied = set(loader.applied_migrations)
    else:
        applied = set(order) - {tuple(label.split(".", 1)) for label in pending_only}
    for app, name in order:
        emit(kind="migration", app=app, name=name, applied=(app, name) in applied)
    new_models = set()
    for app, name in [node for node in order if node not in applied]:
        migration = loader.graph.nodes[app, name]
        state = loader.project_state((app, migration.name), at_end=False)
        operations = []
        for op in migration.operations:
            operations.append(describe(op, app, state, connection, new_models))
            if type(op).__name__ == "CreateModel":
                new_models.add((app, op.name.lower()))
            op.state_forwards(app, state)
        parents = loader.graph.node_map[(app, migration.name)].parents
        emit(
            kind="pending",
            app=app,
            name=migration.name,
            dependencies=sorted(f"{parent.key[0]}.{parent.key[1]}" for parent in parents),
            composeship=plain(getattr(migration, "composeship", None)),
            safemigrate=plain(getattr(migration, "safe", None)),
            syzygy=plain(getattr(migration, "stage", None)),
            atomic=bool(getattr(migration, "atomic", True)),
            operations=operations,
        )

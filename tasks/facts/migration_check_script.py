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


def column(field, connection):
    if field is None:
        return None
    try:
        db_type = field.db_type(connection)
    except Exception:  # noqa: BLE001 - a field the backend cannot type is reported as such
        db_type = None
    from django.db.models.fields import NOT_PROVIDED

    db_default = getattr(field, "db_default", NOT_PROVIDED)
    return {
        "type": db_type,
        "null": bool(field.null),
        "default": field.has_default(),
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
    elif kind == "AlterField":
        facts["old"] = column(field_of(state, app, op.model_name, op.name), connection)
        facts["new"] = column(op.field, connection)
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


def main():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    loader = executor.loader
    applied = set(loader.applied_migrations)
    order, seen = [], set()
    for leaf in sorted(loader.graph.leaf_nodes()):
        for node in loader.graph.forwards_plan(leaf):
            if node not in seen:
                seen.add(node)
                order.append(node)
    for app, name in order:
        emit(kind="migration", app=app, name=name, applied=(app, name) in applied)
    new_models = set()
    for migration, backwards in executor.migration_plan(loader.graph.leaf_nodes()):
        if backwards:
            continue
        app = migration.app_label
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
            operations=operations,
        )

"""The operations composeship makes safe for the old code by itself, decided from the
facts the check container reports: a NOT NULL column's default kept in the database, a
drop deferred until the new release serves; and what it still refuses."""

import json

import pytest

from tasks.commands.migrate import KeepDefault, MigrateWork
from tasks.errors import DeployError
from tasks.facts import migration_safety as safety
from tasks.records import DeferredDrop, Outcome, Release
from tasks.steps import migrations, releases

PG15 = safety.Database("postgresql", 150008)
PG12 = safety.Database("postgresql", 120017)


def add_field(**new):
    column = {"type": "boolean", "field": "BooleanField", "null": False, "default": True, "default_callable": None, "auto_now": False, "db_default": False, "unique": False}
    column.update(new)
    return {"operation": "AddField", "description": "Add field pinned to note", "model": "note", "field": "pinned", "new": column}


@pytest.mark.parametrize(
    "new, database, verdict, expression",
    [
        ({}, PG15, safety.KEPT, None),  # BooleanField(default=False): Django's constant
        ({"null": True}, PG15, safety.SAFE, None),
        ({"db_default": True}, PG15, safety.SAFE, None),  # Django 5's db_default=
        ({"default": False}, PG15, safety.UNSAFE, None),  # hand-written, no default at all
        ({"unique": True}, PG15, safety.UNSAFE, None),
        ({}, safety.Database("sqlite"), safety.UNSAFE, None),
        ({"field": "DateTimeField", "default_callable": "django.utils.timezone.now"}, PG15, safety.KEPT, "now()"),
        ({"field": "DateTimeField", "default": False, "auto_now": True}, PG15, safety.KEPT, "now()"),
        ({"field": "DateField", "default_callable": "datetime.date.today"}, PG15, safety.KEPT, "CURRENT_DATE"),
        ({"field": "UUIDField", "default_callable": "uuid.uuid4"}, PG15, safety.KEPT, "gen_random_uuid()"),
        ({"field": "UUIDField", "default_callable": "uuid.uuid4"}, PG12, safety.UNSAFE, None),
        ({"field": "JSONField", "default_callable": "builtins.dict"}, PG15, safety.KEPT, None),
        ({"field": "CharField", "default_callable": "shop.models.new_code"}, PG15, safety.UNSAFE, None),
    ],
)
def test_a_not_null_field_with_a_default_keeps_it_in_the_database_where_it_can(new, database, verdict, expression):
    (found,) = safety.classify(add_field(**new), database)
    assert (found.verdict, found.expression) == (verdict, expression)
    if verdict == safety.UNSAFE:
        assert found.safe_way


def test_a_callable_the_database_cannot_compute_is_refused_with_the_safe_way():
    (found,) = safety.classify(add_field(field="CharField", default_callable="shop.models.new_code"), PG15)
    assert found.why == "its default is shop.models.new_code(), which the database cannot compute for the running release's INSERTs, which leave the column out"
    assert found.safe_way.startswith("give it a constant default, or add it nullable")


@pytest.mark.parametrize(
    "op, verdict, nullable_first",
    [
        ({"operation": "RemoveField", "model": "note", "field": "title", "old": {"null": False, "m2m": False}}, safety.DEFERRED, True),
        ({"operation": "RemoveField", "model": "note", "field": "summary", "old": {"null": True, "m2m": False}}, safety.DEFERRED, False),
        ({"operation": "RemoveField", "model": "note", "field": "tags", "old": {"null": False, "m2m": True}}, safety.DEFERRED, False),
        ({"operation": "DeleteModel", "model": "Tag"}, safety.DEFERRED, False),
        ({"operation": "RemoveField", "model": "tag", "field": "colour", "new_table": True}, safety.SAFE, False),
        ({"operation": "SeparateDatabaseAndState", "database": [{"operation": "RemoveField", "model": "note", "field": "title"}]}, safety.UNSAFE, False),
        ({"operation": "RenameField", "model": "note", "field": "title", "new_name": "heading"}, safety.UNSAFE, False),
    ],
)
def test_a_drop_is_deferred_and_a_not_null_column_made_nullable_first(op, verdict, nullable_first):
    (found,) = safety.classify({"description": "an operation", **op}, PG15)
    assert found.verdict == verdict
    assert ("made nullable first" in found.why) is nullable_first


def pending(name, dependencies, *operations, mark=None):
    record = {"kind": "pending", "app": "notes", "name": name, "composeship": mark, "dependencies": dependencies, "operations": list(operations)}
    return safety.MARK + json.dumps(record)


def report_of(*records, database=("postgresql", 150008)):
    lines = [safety.MARK + json.dumps({"kind": "database", "vendor": database[0], "version": database[1]})]
    lines.append(safety.MARK + json.dumps({"kind": "migration", "app": "notes", "name": "0001_initial", "applied": True}))
    for record in records:
        name = json.loads(record[len(safety.MARK) :])["name"]
        lines.append(safety.MARK + json.dumps({"kind": "migration", "app": "notes", "name": name, "applied": False}))
    return safety.parse_report("\n".join(lines + list(records)))


DROP_TITLE = {"operation": "RemoveField", "description": "Remove field title from note", "model": "note", "field": "title", "old": {"null": False}}
ADD_PINNED = add_field()


def test_what_composeship_does_is_handed_to_the_migrate_container_by_migration_and_index():
    report = report_of(pending("0002_pinned_no_title", ["notes.0001_initial"], ADD_PINNED, DROP_TITLE))
    assert safety.refused(report) == []
    assert report.handling == safety.Handling(
        keep=(KeepDefault("notes.0002_pinned_no_title", 0, None),),
        defer=(DeferredDrop("notes.0002_pinned_no_title", 1, "Remove field title from note"),),
    )
    assert report.summary() == "1 default(s) kept in the database, 1 drop(s) deferred until the new release serves"
    deferred = safety.marks(report, "notes.0002_pinned_no_title", "Remove field title from note")
    assert deferred.startswith(" [deferred until the new release serves: the running release still reads the column title of note")
    assert safety.marks(report, "notes.0002_pinned_no_title", "Add field pinned to note").startswith(" [default kept in the database while the old code runs: ")


def test_a_drop_marked_post_deploy_runs_after_the_rollout_and_is_not_deferred_again():
    report = report_of(pending("0002_no_title", ["notes.0001_initial"], DROP_TITLE, mark="post-deploy"))
    assert report.handling.defer == ()
    assert report.stages.after == ("notes.0002_no_title",)


def test_a_drop_that_a_later_operation_of_the_release_needs_done_is_refused_naming_both():
    again = {"operation": "AddField", "description": "Add field title to note", "model": "note", "field": "title", "new": {"null": True}}
    report = report_of(pending("0002_no_title", ["notes.0001_initial"], DROP_TITLE), pending("0003_title_again", ["notes.0002_no_title"], again))
    (stopped,) = safety.refused(report)
    assert stopped.migration == "notes.0002_no_title" and stopped.operation == "dependency"
    what, todo = safety.refusal([stopped], report)
    assert "notes.0003_title_again needs what notes.0002_no_title drops (Remove field title from note) gone before the rollout" in what
    assert todo.startswith("release the drop (notes.0002_no_title) in one deploy and notes.0003_title_again in a later one")


def test_on_another_database_a_drop_is_refused_as_before():
    report = report_of(pending("0002_no_title", ["notes.0001_initial"], DROP_TITLE), database=("mysql", None))
    assert [f.operation for f in safety.refused(report)] == ["RemoveField"]


def entry(**fields):
    return Release("deploy", "web1", "dev", "main", "2026-12-01T00:00:00", result=Outcome.OK, revision="a" * 40, **fields)


A = DeferredDrop("notes.0003_no_title", 0, "Remove field title from note")
B = DeferredDrop("notes.0004_no_tag", 0, "Delete model Tag")


@pytest.mark.parametrize(
    "entries, owed",
    [
        ([], []),
        ([entry(deferred=[A])], [A]),
        ([entry(deferred=[A], dropped=[A])], []),
        ([entry(deferred=[A]), entry(deferred=[B], dropped=[A])], [B]),
        ([entry(deferred=[A]), entry(unapplied=["notes.0003_no_title"])], []),  # a rollback reversed it
        ([entry(deferred=[A, B]), entry(dropped=[B])], [A]),
    ],
)
def test_the_drops_still_owed_come_from_the_release_log(entries, owed):
    assert releases.owed_drops(entries) == owed


def test_a_rollback_warns_about_a_drop_that_ran():
    entries = [entry(deferred=[A], dropped=[A])]
    assert releases.post_deploy_among(entries, ["notes.0003_no_title", "notes.0002_x"]) == ["notes.0003_no_title"]


NONE = migrations.Options()


def test_no_migration_file_changed_migrates_nothing_and_still_pays_the_drops_owed():
    look = migrations.Look.of("b" * 40, trusted=True, changes=[])
    assert not look.check and look.why == "no migration file changed since bbbbbbbbbbbb"
    decision = migrations.without_check(look, [A])
    assert decision.before is None and decision.after == MigrateWork(targets=(), drops=(A,))
    assert migrations.without_check(look, []).after is None


def test_the_decision_before_and_after_the_rollout():
    report = report_of(pending("0002_pinned_no_title", ["notes.0001_initial"], ADD_PINNED, DROP_TITLE))
    decision = migrations.decide(report, [("A", "notes/migrations/0002_pinned_no_title.py")], True, "b" * 40, NONE, owed=[B])
    handling = report.handling
    assert decision.before == MigrateWork(targets=None, keep=handling.keep, defer=handling.defer)
    assert decision.after == MigrateWork(targets=(), drops=handling.defer + (B,))
    assert [m.label for m in decision.pending[:1]] == ["notes.0002_pinned_no_title"] and decision.pending[1] == B.describe()
    assert any("default kept in the database while the old code runs" in line for line in decision.notes)


def test_an_unsafe_operation_stops_the_deploy_unless_allowed():
    rename = {"operation": "RenameField", "description": "Rename field title on note to heading", "model": "note", "field": "title", "new_name": "heading"}
    report = report_of(pending("0002_heading", ["notes.0001_initial"], rename))
    with pytest.raises(DeployError) as caught:
        migrations.decide(report, [], True, "b" * 40, NONE, owed=[])
    assert caught.value.what.startswith("notes.0002_heading: RenameField")
    allowed = migrations.decide(report, [], True, "b" * 40, migrations.Options(allow_unsafe=True), owed=[])
    assert allowed.warnings[0].startswith("warning: migrating unsafe operations (--allow-unsafe-migrations)")


def test_a_dry_run_cannot_know_and_migrates_everything():
    decision = migrations.decide(None, [("A", "notes/migrations/0002_x.py")], True, "b" * 40, NONE, owed=[])
    assert decision.before == MigrateWork() and decision.after is None
    assert decision.pending == ["notes.0002_x"]

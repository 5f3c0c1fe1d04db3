"""The verdicts on pending migrations, from the check script's report as recorded in
the example's image (Django 3.2, PostgreSQL) with one migration per rule: those of
tests/e2e/migration_rules, which test_local.py checks live the same way."""

import json
from pathlib import Path

import pytest

from tasks.facts import migration_safety as safety
from tasks.facts.migrations import format_plan

RECORDED = (Path(__file__).parent / "recorded" / "migration_check.txt").read_text()


@pytest.fixture
def report():
    return safety.parse_report(RECORDED)


def verdicts(report):
    found = {}
    for finding in report.findings:
        found.setdefault(finding.migration.split(".")[1], []).append(finding.verdict)
    return found


def test_the_plan_comes_from_the_same_report(report):
    assert [m.label for m in report.plan][:2] == ["contenttypes.0001_initial", "contenttypes.0002_remove_content_type_name"]
    assert [m.name for m in report.plan if not m.applied] == [p.label.split(".")[1] for p in report.pending]
    assert len(report.pending) == 19


def test_each_operation_is_classified(report):
    assert verdicts(report) == {
        "0002_note_body": ["kept"],  # NOT NULL with a constant default: kept in the database
        "0003_note_summary": ["safe"],  # nullable
        "0004_note_title_index": ["slow"],  # no CONCURRENTLY
        "0005_widen_title": ["safe"],  # varchar(200) -> varchar(300)
        "0006_fill": ["unknown"],  # RunPython
        "0007_summary_not_null": ["unsafe"],
        "0008_title_check": ["unsafe"],  # a check constraint
        "0009_tag": ["safe"],
        "0010_tag_colour": ["safe"],  # NOT NULL, but on a table this release creates
        "0011_rename_summary": ["unsafe"],  # acknowledged below
        "0012_forget_body": ["unsafe", "safe"],  # a misspelt composeship mark; state only
        "0012a_note_stamped": ["kept"],  # timezone.now: DEFAULT now()
        "0012b_note_token": ["kept"],  # uuid.uuid4: DEFAULT gen_random_uuid() on PostgreSQL 15
        "0012c_note_code": ["unsafe"],  # secrets.token_hex: nothing the database computes
        "0012d_drop_abstract": ["deferred", "unsafe"],  # deferred, but 0012e needs the column gone
        "0012e_abstract_again": ["safe"],
        "0013_drop_created": ["deferred"],  # marked post-deploy: it runs after the rollout anyway
        # varchar(300) -> varchar(100), and unique; and it depends on 0013, which runs after
        # the deploy (so does 0015): stranded.
        "0014_title_narrow": ["unsafe", "unsafe", "unsafe"],
        "0015_drop_tag": ["safe", "unsafe"],  # a table this release creates
    }


def test_acknowledged_and_post_deploy_migrations_pass(report):
    assert report.acknowledgement("notes.0011_rename_summary").acknowledged == safety.ACKNOWLEDGED
    assert report.acknowledgement("notes.0013_drop_created").acknowledged == safety.POST_DEPLOY
    refused = sorted({f.migration for f in safety.refused(report)})
    assert refused == [
        "notes.0007_summary_not_null",
        "notes.0008_title_check",
        "notes.0012_forget_body",
        "notes.0012c_note_code",
        "notes.0012d_drop_abstract",
        "notes.0014_title_narrow",
        "notes.0015_drop_tag",
    ]
    # After the deploy, 0014's own operations no longer meet old code: only its stranding stops it.
    assert [f.operation for f in safety.refused(report) if f.migration == "notes.0014_title_narrow"] == ["dependency"]
    assert report.stages.after == ("notes.0013_drop_created", "notes.0014_title_narrow", "notes.0015_drop_tag")
    assert report.stages.targets == (("notes", "0012e_abstract_again"),)
    assert safety.refused(report, allow_unsafe=True) == []


@pytest.mark.parametrize(
    "record, expected",
    [
        ({"composeship": "safe"}, (safety.ACKNOWLEDGED, 'composeship = "safe"')),
        ({"composeship": "post-deploy"}, (safety.POST_DEPLOY, 'composeship = "post-deploy"')),
        ({"safemigrate": "always"}, (safety.ACKNOWLEDGED, "safe = Safe.always()")),
        ({"safemigrate": "after_deploy"}, (safety.POST_DEPLOY, "safe = Safe.after_deploy()")),
        ({"safemigrate": False}, (safety.POST_DEPLOY, "safe = Safe.after_deploy()")),
        ({"safemigrate": "before_deploy"}, (None, "")),
        ({"syzygy": "post_deploy"}, (safety.POST_DEPLOY, "stage = Stage.POST_DEPLOY")),
        ({"syzygy": "pre_deploy"}, (None, "")),
        ({}, (None, "")),
    ],
)
def test_acknowledgements_of_composeship_safemigrate_and_syzygy(record, expected):
    assert safety.acknowledgement(record) == expected


@pytest.mark.parametrize(
    "old, new, change",
    [
        ("varchar(200)", "varchar(300)", "widening"),
        ("varchar(200)", "text", "widening"),
        ("integer", "bigint", "rewrite"),
        ("varchar(300)", "varchar(100)", "narrowing"),
        ("text", "integer", "narrowing"),
        ("bigint", "integer", "narrowing"),
        ("text", "text", "same"),
    ],
)
def test_type_changes(old, new, change):
    assert safety.type_change(old, new) == change


def test_a_refusal_names_migration_operation_why_and_the_safe_way():
    report = safety.parse_report(RECORDED)
    drop = [f for f in safety.refused(report) if f.migration == "notes.0007_summary_not_null"]
    what, todo = safety.refusal(drop, report)
    assert what == (
        "notes.0007_summary_not_null: AlterField (Alter field summary on note) is unsafe while the old code serves: "
        "it makes the column NOT NULL: the running release may still write NULL, and the whole table is scanned under a lock; "
        "nothing was migrated or restarted: the old release keeps serving"
    )
    assert todo.startswith("add it nullable (or with db_default=, Django 5+), backfill, then make it NOT NULL in a later release")
    assert 'mark the migration to run after the rollout (composeship = "post-deploy"' in todo
    assert 'composeship = "safe"' in todo and "--allow-unsafe-migrations" in todo


def test_the_plan_marks_unsafe_and_slow_operations(report):
    pending = [m for m in report.plan if not m.applied][:3]
    operations = {p.label: [(op["operation"], op["reversible"], op["description"]) for op in p.operations] for p in report.pending}
    lines = format_plan(pending, operations, lambda label, description: safety.marks(report, label, description))
    assert lines[0] == "notes:"
    assert lines[2].startswith("    - Add field body to note [default kept in the database while the old code runs: the running release's INSERTs leave the column out")
    assert lines[4] == "    - Add field summary to note"
    assert lines[6].startswith("    - Create index note_title_idx on field(s) title of model note [slow or locking on an existing table: it builds the index without CONCURRENTLY")


def test_no_report_is_an_error():
    with pytest.raises(ValueError):
        safety.parse_report("Traceback (most recent call last):\n...")


def pending_record(app, name, dependencies, mark=None, operation="AddField"):
    record = {"kind": "pending", "app": app, "name": name, "composeship": mark, "dependencies": dependencies}
    record["operations"] = [{"operation": operation, "description": f"{operation} in {name}", "reversible": True, "model": "note", "new": {"null": True}}]
    return safety.MARK + json.dumps(record)


def report_of(*records):
    applied = safety.MARK + json.dumps({"kind": "migration", "app": "notes", "name": "0001_initial", "applied": True})
    return safety.parse_report("\n".join([applied, *records]))


def test_without_post_deploy_migrations_everything_migrates_before_the_rollout():
    found = report_of(pending_record("notes", "0002_a", ["notes.0001_initial"]), pending_record("notes", "0003_b", ["notes.0002_a"])).stages
    assert found == safety.Stages(before=("notes.0002_a", "notes.0003_b"))


def test_post_deploy_migrations_run_after_and_the_others_up_to_their_last_before_it():
    found = report_of(
        pending_record("notes", "0002_a", ["notes.0001_initial"]),
        pending_record("shop", "0001_initial", ["notes.0002_a"]),
        pending_record("notes", "0003_drop", ["notes.0002_a"], mark="post-deploy", operation="RemoveField"),
        pending_record("shop", "0002_b", ["shop.0001_initial"]),
    )
    assert found.stages == safety.Stages(
        before=("notes.0002_a", "shop.0001_initial", "shop.0002_b"),
        after=("notes.0003_drop",),
        targets=(("shop", "0002_b"),),  # notes.0002_a comes with shop's first migration
    )
    assert safety.refused(found) == []  # the drop runs once no old code reads the column
    assert found.summary() == "1 migration(s) after the rollout"
    assert safety.marks(found, "notes.0003_drop", "RemoveField in 0003_drop") == ' [after the deploy: composeship = "post-deploy"]'


def test_an_unmarked_migration_that_depends_on_a_post_deploy_one_is_refused():
    found = report_of(
        pending_record("notes", "0002_drop", ["notes.0001_initial"], mark="post-deploy", operation="RemoveField"),
        pending_record("notes", "0003_c", ["notes.0002_drop"]),
    )
    assert found.stages.after == ("notes.0002_drop", "notes.0003_c")
    assert found.stages.stranded == {"notes.0003_c": "notes.0002_drop"}
    assert found.stages.targets == ()
    (stopped,) = safety.refused(found)
    what, todo = safety.refusal([stopped], found)
    assert what.startswith("notes.0003_c: dependency (depends on notes.0002_drop) is unsafe while the old code serves: it depends on notes.0002_drop, which is marked to run after the deploy")
    assert todo == 'mark notes.0003_c post-deploy too (composeship = "post-deploy") if the new release does not need it, or release notes.0002_drop in a later deploy'


def test_a_mark_composeship_does_not_know_stops_the_deploy_instead_of_running_the_migration_before():
    found = report_of(pending_record("notes", "0002_drop", ["notes.0001_initial"], mark="postdeploy", operation="RemoveField"))
    assert found.stages.before == ("notes.0002_drop",), "not post-deploy: the value is not one composeship knows"
    stopped = safety.refused(found)
    assert [f.operation for f in stopped] == ["mark", "RemoveField"]
    what, todo = safety.refusal(stopped[:1], found)
    assert what.startswith('notes.0002_drop: mark (composeship = "postdeploy") is unsafe while the old code serves: composeship knows no such value')
    assert todo.startswith('write composeship = "safe" (checked by hand, runs before the rollout) or composeship = "post-deploy"')
    # Even a migration whose operations are all safe is stopped: when it runs is unclear.
    harmless = report_of(pending_record("notes", "0002_a", ["notes.0001_initial"], mark="Safe"))
    assert safety.refused(harmless) == []
    typo = report_of(pending_record("notes", "0002_a", ["notes.0001_initial"], mark="after"))
    assert [f.operation for f in safety.refused(typo)] == ["mark"]

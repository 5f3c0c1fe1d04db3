"""The verdicts on pending migrations, from the check script's report as recorded in
the example's image (Django 3.2, PostgreSQL) with one migration per rule."""

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
    assert len(report.pending) == 14


def test_each_operation_is_classified(report):
    assert verdicts(report) == {
        "0002_note_body": ["unsafe"],  # NOT NULL without a database default
        "0003_note_summary": ["safe"],  # nullable
        "0004_note_title_index": ["slow"],  # no CONCURRENTLY
        "0005_widen_title": ["safe"],  # varchar(200) -> varchar(300)
        "0006_fill": ["unknown"],  # RunPython
        "0007_summary_not_null": ["unsafe"],
        "0008_title_check": ["unsafe"],  # a check constraint
        "0009_tag": ["safe"],
        "0010_tag_colour": ["safe"],  # NOT NULL, but on a table this release creates
        "0011_rename_summary": ["unsafe"],  # acknowledged below
        "0012_forget_body": ["safe"],  # state only
        "0013_drop_created": ["unsafe"],  # marked post-deploy
        "0014_title_narrow": ["unsafe", "unsafe"],  # varchar(300) -> varchar(100), and unique
        "0015_drop_tag": ["safe"],  # a table this release creates
    }


def test_acknowledged_migrations_pass_and_post_deploy_ones_are_refused_until_supported(report):
    assert report.acknowledgement("notes.0011_rename_summary").acknowledged == safety.ACKNOWLEDGED
    assert report.acknowledgement("notes.0013_drop_created").acknowledged == safety.POST_DEPLOY
    refused = sorted({f.migration for f in safety.refused(report)})
    assert refused == ["notes.0002_note_body", "notes.0007_summary_not_null", "notes.0008_title_check", "notes.0013_drop_created", "notes.0014_title_narrow"]
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
    drop = [f for f in safety.refused(report) if f.migration == "notes.0013_drop_created"]
    what, todo = safety.refusal(drop, report)
    assert what == (
        "notes.0013_drop_created: RemoveField (Remove field created from note) is unsafe while the old code serves: "
        "it drops a column of note that the running release still reads and writes; "
        "nothing was migrated or restarted: the old release keeps serving"
    )
    assert todo.startswith("expand/contract: first release the code without it (remove it from the model with SeparateDatabaseAndState")
    assert "marked to run after the deploy, which composeship does not do yet" in todo
    assert 'composeship = "safe"' in todo and "--allow-unsafe-migrations" in todo


def test_the_plan_marks_unsafe_and_slow_operations(report):
    pending = [m for m in report.plan if not m.applied][:3]
    operations = {p.label: [(op["operation"], op["reversible"], op["description"]) for op in p.operations] for p in report.pending}
    lines = format_plan(pending, operations, lambda label, description: safety.marks(report, label, description))
    assert lines[0] == "notes:"
    assert lines[2].startswith("    - Add field body to note [unsafe while the old code serves: it adds a NOT NULL column without a database default")
    assert lines[4] == "    - Add field summary to note"
    assert lines[6].startswith("    - Create index note_title_idx on field(s) title of model note [slow or locking on an existing table: it builds the index without CONCURRENTLY")


def test_no_report_is_an_error():
    with pytest.raises(ValueError):
        safety.parse_report("Traceback (most recent call last):\n...")

"""What one migrate container does, as its command line: Django's own `migrate` when that
is all it takes, composeship's migrate program otherwise; and what the program says it did."""

import ast

from tasks.commands import compose
from tasks.commands import migrate as m
from tasks.records import DeferredDrop

NAMED = compose.ComposeProject("docker-compose.production.yml", "web", "shop")
DROP = DeferredDrop("notes.0003_remove_note_title", 0, "Remove field title from note")


def call_of(argv: list[str]) -> ast.Call:
    """The program's last statement, `main(...)`, parsed (the program compiles)."""
    tree = ast.parse(argv[-1])
    call = tree.body[-1].value
    assert isinstance(call, ast.Call) and call.func.id == "main"
    return call


def arguments(argv: list[str]) -> dict:
    return {keyword.arg: ast.literal_eval(keyword.value) for keyword in call_of(argv).keywords}


def test_everything_pending_is_the_plain_migrate_command():
    assert m.command(NAMED, m.MigrateWork(), lock_timeout="5s") == compose.migrate(NAMED, noinput=True, lock_timeout="5s", marked=True)
    assert m.display(m.MigrateWork(), "web") == ""


def test_one_target_is_migrate_app_name():
    work = m.MigrateWork(targets=(("notes", "0002_body"),))
    assert m.command(NAMED, work, lock_timeout="5s") == compose.migrate(NAMED, "notes", "0002_body", noinput=True, lock_timeout="5s", marked=True)


def test_one_reversal_is_migrate_app_name():
    work = m.MigrateWork(targets=(), backwards=(("notes", "0001_initial"),))
    assert m.command(NAMED, work) == compose.migrate(NAMED, "notes", "0001_initial", noinput=True, marked=True)


def test_several_targets_run_djangos_migrate_for_each_in_one_container():
    argv = m.command(NAMED, m.MigrateWork(targets=(("notes", "0002_body"), ("users", "0003_x"))), lock_timeout="5s")
    assert argv[:12] == ["docker", "compose", "-p", "shop", "-f", "docker-compose.production.yml", "run", "--label", "composeship.migrate=true", "-e", "PGOPTIONS=-c lock_timeout=5s", "--rm"]
    assert argv[12:17] == ["web", "python", "manage.py", "shell", "-c"]
    assert arguments(argv) == {
        "targets": [["notes", "0002_body"], ["users", "0003_x"]],
        "keep": [],
        "defer": [],
        "drops": [],
        "restore_drops": [],
        "backwards": [],
    }


def test_kept_defaults_and_deferred_drops_go_to_the_program_by_migration_and_index():
    work = m.MigrateWork(keep=(m.KeepDefault("notes.0002_note_pinned", 0), m.KeepDefault("notes.0002_note_pinned", 1, "now()")), defer=(DROP,))
    argv = m.command(NAMED, work)
    assert arguments(argv) == {
        "targets": None,
        "keep": [["notes.0002_note_pinned", 0, None], ["notes.0002_note_pinned", 1, "now()"]],
        "defer": [["notes.0003_remove_note_title", 0]],
        "drops": [],
        "restore_drops": [],
        "backwards": [],
    }
    assert "PGOPTIONS" not in " ".join(argv)
    assert m.display(work, "web") == "web: manage.py shell -c <migrate (2 default(s) kept, 1 drop(s) deferred)>"


def test_deferred_drops_alone_migrate_nothing():
    work = m.MigrateWork(targets=(), drops=(DROP,))
    assert not work.migrates
    assert arguments(m.command(NAMED, work))["targets"] == []
    assert m.display(work, "web") == "web: manage.py shell -c <migrate (1 deferred drop(s))>"


def test_what_the_program_did_is_read_from_its_marks():
    out = "\n".join(
        [
            "Operations to perform:",
            "  Applying notes.0002_note_pinned... OK",
            m.MARK + '{"kind": "kept", "migration": "notes.0002_note_pinned", "operation": 0, "column": "notes_note.pinned", "default": "False"}',
            m.MARK + '{"kind": "deferred", "migration": "notes.0003_remove_note_title", "operation": 0}',
            m.MARK + '{"kind": "drop", "migration": "notes.0003_remove_note_title", "operation": 0, "state": "dropped"}',
            m.MARK + '{"kind": "drop", "migration": "notes.0004_x", "operation": 2, "state": "waiting"}',
            m.MARK + "not json",
            m.MARK + "[1, 2]",
        ]
    )
    report = m.parse(out)
    assert report.kept == ("notes.0002_note_pinned: notes_note.pinned DEFAULT False",)
    assert report.deferred == (("notes.0003_remove_note_title", 0),)
    assert report.done(("notes.0003_remove_note_title", 0))
    assert not report.done(("notes.0004_x", 2))
    assert not report.done(("notes.0005_y", 0))

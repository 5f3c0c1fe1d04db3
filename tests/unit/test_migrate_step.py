"""steps/migrate.py's steps before the rollout (`plan`, `backup_before`, `migrate_before`,
as a deploy runs them on the primary) on a recorded host: what the serving release, the
release log and git's list of changed migration files decide, and which commands that
takes — nothing but the diff when no migration file changed; the check in a one-off
container, then the backup decision and `migrate`, when one was added; a refusal
before the database is touched when an applied one was edited."""

import json
import re

import pytest
from invoke import Result

from tasks.errors import DeployError
from tasks.facts import migration_safety as safety
from tasks.records import Outcome, Release
from tasks.steps import migrate, migrations
from tests.unit.recorded_host import RecordedHost, web1

OLD, NEW = "a" * 40, "b" * 40
SERVICES = ["django", "postgres", "nginx"]
DIFF = r"git diff --name-status --no-renames .*"
CHECK = r"docker compose .*run .*manage\.py shell -c .*"
HAS_BACKUP = r".*exec .*postgres sh -c 'command -v backup >/dev/null'"
MIGRATE = r"docker compose .*run .*django .*"


def served_ok(revision=OLD) -> list[Release]:
    return [Release("deploy", "web1", "ann", "main", "2026-12-01T00:00:00Z", revision=revision, result=Outcome.OK)]


def report(*pending_names, applied=("0001_initial",)) -> str:
    lines = [safety.MARK + json.dumps({"kind": "database", "vendor": "postgresql", "version": 150008})]
    lines += [safety.MARK + json.dumps({"kind": "migration", "app": "notes", "name": name, "applied": True}) for name in applied]
    for name in pending_names:
        lines.append(safety.MARK + json.dumps({"kind": "migration", "app": "notes", "name": name, "applied": False}))
        add = {"operation": "AddField", "description": "Add field body to note", "model": "note", "field": "body", "new": {"null": True, "has_default": False}}
        lines.append(safety.MARK + json.dumps({"kind": "pending", "app": "notes", "name": name, "composeship": None, "dependencies": ["notes.0001_initial"], "operations": [add]}))
    return "\n".join(lines) + "\n"


def run(tmp_path, answers, entries, previous=OLD, old_code_runs=True, **settings):
    host = RecordedHost(answers)
    t = web1(tmp_path, host, **settings)
    release = Release("deploy", "web1", "ann", "main", "2026-12-02T00:00:00Z", previous=previous, revision=NEW)
    planned = migrate.plan(t, previous, NEW, entries, migrations.Options(), old_code_runs)
    migrate.backup_before(t, release, planned, SERVICES)
    migrate.migrate_before(t, release, planned)
    return planned.decision, release, host.commands


def kinds(commands: list[str]) -> list[str]:
    named = {"diff": DIFF, "check": CHECK, "has backup": HAS_BACKUP, "migrate": MIGRATE}
    return [next(name for name, pattern in named.items() if re.match(".*" + pattern, command)) for command in commands]


def test_no_migration_file_changed_since_a_release_served_ok_runs_nothing_but_the_diff(tmp_path):
    decision, release, commands = run(tmp_path, {DIFF: Result(stdout="")}, served_ok())
    assert decision.before is None and decision.after is None
    assert kinds(commands) == ["diff"]
    assert release.migrations == []


def test_a_new_migration_file_is_checked_then_migrated_after_the_backup_decision(tmp_path):
    answers = {
        DIFF: Result(stdout="A\tnotes/migrations/0002_note_body.py\n"),
        CHECK: Result(stdout=report("0002_note_body")),
        HAS_BACKUP: Result(exited=1),
        MIGRATE: Result(stdout="Operations to perform:\n  Apply all migrations: notes\nRunning migrations:\n  Applying notes.0002_note_body... OK\n"),
    }
    decision, release, commands = run(tmp_path, answers, served_ok())
    assert kinds(commands) == ["diff", "check", "has backup", "migrate"]
    assert decision.before is not None and decision.after is None
    assert release.migrations == ["notes.0002_note_body"] and release.backup is None


def test_after_a_release_that_did_not_serve_ok_git_is_not_trusted_and_the_image_is_asked(tmp_path):
    """Nothing pending by the image's own account: no backup is asked for; Django's
    `migrate` still runs (it applies nothing)."""
    answers = {DIFF: Result(stdout=""), CHECK: Result(stdout=report()), MIGRATE: Result(stdout="No migrations to apply.\n")}
    decision, release, commands = run(tmp_path, answers, [])
    assert kinds(commands) == ["diff", "check", "migrate"]
    assert decision.pending == [] and release.migrations == []


def test_an_edited_applied_migration_is_refused_before_the_database_is_touched(tmp_path):
    answers = {DIFF: Result(stdout="M\tnotes/migrations/0001_initial.py\n"), CHECK: Result(stdout=report())}
    with pytest.raises(DeployError) as refused:
        run(tmp_path, answers, served_ok())
    assert "0001_initial" in str(refused.value) and "edited" in str(refused.value)


FIRST_MIGRATE = "Operations to perform:\n  Apply all migrations: notes\nRunning migrations:\n  Applying notes.0001_initial... OK\n  Applying notes.0002_note_body... OK\n"


def test_with_nothing_serving_no_check_runs_and_migrate_applies_everything_after_the_backup_decision(tmp_path):
    """A first deploy: no old code can break, so no one-off container checks the
    migrations; what migrate applied is what the release log names."""
    decision, release, commands = run(tmp_path, {HAS_BACKUP: Result(exited=1), MIGRATE: Result(stdout=FIRST_MIGRATE)}, [], previous=None, old_code_runs=False)
    assert kinds(commands) == ["has backup", "migrate"]
    assert decision.before == migrations.MigrateWork() and decision.after is None and decision.pending is None
    assert release.migrations == ["notes.0001_initial", "notes.0002_note_body"]


def test_containers_composeship_did_not_label_are_old_code_and_the_migrations_are_checked(tmp_path):
    """A server set up by hand: its django runs an unlabelled image (no revision), and
    that code reads the database: the check runs as on any release."""
    answers = {CHECK: Result(stdout=report("0002_note_body")), HAS_BACKUP: Result(exited=1), MIGRATE: Result(stdout=FIRST_MIGRATE)}
    decision, release, commands = run(tmp_path, answers, [], previous=None, old_code_runs=True)
    assert kinds(commands) == ["check", "has backup", "migrate"]

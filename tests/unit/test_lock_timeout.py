"""Migrations run with PostgreSQL's lock_timeout: a migration stuck behind another
session's lock fails with an error that says so and what to do."""

from pathlib import Path

import pytest
from invoke import MockContext, Result

from tasks.commands.migrate import MigrateWork
from tasks.errors import CommandFailed
from tasks.facts import migrations
from tasks.steps import database
from tests.unit.recorded_host import web1

RECORDED = (Path(__file__).parent / "recorded" / "migrate_lock_timeout.txt").read_text()
MIGRATE = "cd /srv/shop && docker compose -f docker-compose.production.yml run --label composeship.migrate=true -e 'PGOPTIONS=-c lock_timeout=2s' --rm django python manage.py migrate --noinput"


def test_a_lock_timeout_is_recognised_and_the_migration_named():
    assert migrations.lock_timed_out(RECORDED)
    assert not migrations.lock_timed_out('django.db.utils.ProgrammingError: relation "table_that_does_not_exist" does not exist')
    assert migrations.failed_migration(RECORDED) == "notes.0002_note_body"
    assert migrations.failed_migration("  Applying notes.0002_a... OK\n  Applying notes.0003_b...Traceback") == "notes.0003_b"
    assert migrations.failed_migration("  Applying notes.0002_a... OK\n") is None
    assert migrations.failed_migration("  Unapplying notes.0002_a...Traceback") == "notes.0002_a"


def target(tmp_path, context):
    return web1(tmp_path, context, DEPLOY_MIGRATION_LOCK_TIMEOUT="2s")


def test_a_migration_cancelled_by_the_lock_timeout_says_so_and_what_to_do(tmp_path):
    context = MockContext(run={MIGRATE: Result(exited=1, stdout="  Applying notes.0001_x... OK\n" + RECORDED)})
    with pytest.raises(CommandFailed) as caught:
        database.migrate(target(tmp_path, context), MigrateWork(), todo="fix it with a new migration", left="nothing was restarted: the old release keeps serving")
    what, todo = caught.value.what, caught.value.todo
    assert what == (
        "the migration notes.0002_note_body waited more than 2s for a lock that another session holds on web1's database, "
        "and PostgreSQL cancelled it (lock_timeout) and rolled it back; applied before it: notes.0001_x; "
        "nothing was restarted: the old release keeps serving"
    )
    assert "pg_stat_activity" in todo and "quieter time" in todo and "DEPLOY_MIGRATION_LOCK_TIMEOUT" in todo
    assert "new migration" not in todo
    assert caught.value.stdout.endswith(RECORDED)


def test_other_migration_failures_keep_their_own_error(tmp_path):
    context = MockContext(run={MIGRATE: Result(exited=1, stderr='relation "x" does not exist\n')})
    with pytest.raises(CommandFailed) as caught:
        database.migrate(target(tmp_path, context), MigrateWork(), todo="fix it with a new migration")
    assert caught.value.todo == "fix it with a new migration"
    assert "waited more than" not in caught.value.what

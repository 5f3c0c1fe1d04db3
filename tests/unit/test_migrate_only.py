"""`migrate-only` on a recorded host (the real executor, each command answered from a
table): it migrates with the image the django containers run, refuses an image older
than the checkout's migrations (unless --force), restarts nothing, and the release
log's line says what it applied or where it failed."""

import re

import pytest
from invoke import Result

from tasks.errors import DeployError, HostError
from tasks.pipelines.migrate_only import migrate_only
from tests.unit.test_deploy_failures import CHECK, MIGRATE, kinds, report_with_0002
from tests.unit.test_pipeline_dry_run import HEAD
from tests.unit.test_rollback_pipeline import record_of, target_on

FILES = r"^cd /srv/shop && git ls-files --cached --others --exclude-standard -- "
CONTAINERS = r"sh -c 'c=\"\$1\" i=\"\$2\""
APPLIED = Result("Running migrations:\n  Applying notes.0002_note_body... OK\n")


def migrating(tmp_path, **more):
    answers = {CHECK: Result(report_with_0002()), MIGRATE: APPLIED, FILES: Result("notes/migrations/0001_initial.py\nnotes/migrations/0002_note_body.py\n")}
    return target_on(tmp_path, {**answers, **more})


def test_it_migrates_with_the_image_that_serves_restarts_nothing_and_records_it(tmp_path):
    t, host = migrating(tmp_path)
    with t.report:
        migrate_only(t, force=False)
    assert [k for k in kinds(host.commands) if k in ("start new", "up")] == [], "nothing restarted"
    assert len([c for c in host.commands if re.match(MIGRATE, c)]) == 1
    line = record_of(host)
    assert (line["kind"], line["result"], line["revision"], line["migrations"]) == ("migrate-only", "ok", HEAD, ["notes.0002_note_body"])


def test_an_image_older_than_the_checkouts_migrations_is_refused_before_anything_changes(tmp_path):
    files = Result("notes/migrations/0001_initial.py\nnotes/migrations/0002_note_body.py\nnotes/migrations/0003_note_tag.py\n")
    t, host = migrating(tmp_path, **{FILES: files})
    with pytest.raises(DeployError) as refused:
        with t.report:
            migrate_only(t, force=False)
    assert refused.value.what == "the django image on web1 lacks migrations that the checkout has: notes/migrations/0003_note_tag.py"
    assert "--force" in refused.value.todo
    assert not any(re.match(MIGRATE, c) for c in host.commands), "nothing migrated"
    assert record_of(host)["result"] == "failed"


def test_force_migrates_with_the_older_image_and_says_what_it_ignored(tmp_path):
    files = Result("notes/migrations/0001_initial.py\nnotes/migrations/0002_note_body.py\nnotes/migrations/0003_note_tag.py\n")
    t, host = migrating(tmp_path, **{FILES: files})
    with t.report:
        migrate_only(t, force=True)
    assert "ignored (--force): notes/migrations/0003_note_tag.py" in t.report.out.getvalue()
    assert record_of(host)["result"] == "ok"


def test_nothing_running_is_refused_with_what_to_do(tmp_path):
    t, host = migrating(tmp_path, **{CONTAINERS: Result("")})
    with pytest.raises(HostError) as refused:
        with t.report:
            migrate_only(t, force=False)
    assert (refused.value.what, refused.value.todo) == ("nothing runs on web1: migrate-only migrates with the image that serves", "deploy first (`fab -H web1 deploy`)")
    assert not any(re.match(MIGRATE, c) or re.match(CHECK, c) for c in host.commands)


def test_a_migration_that_fails_is_recorded_at_its_step_and_says_to_fix_it_forward(tmp_path):
    t, host = migrating(tmp_path, **{MIGRATE: Result(stderr="django.db.utils.ProgrammingError: boom\n", exited=1)})
    with pytest.raises(DeployError) as failed:
        with t.report:
            migrate_only(t, force=False)
    assert "boom" in failed.value.what and "fix it with a new migration" in failed.value.todo, failed.value
    line = record_of(host)
    assert (line["result"], line["step"]) == ("failed", "migrate"), line

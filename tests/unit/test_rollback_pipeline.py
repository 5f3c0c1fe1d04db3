"""`rollback` on a recorded host (the real executor, each command answered from a
table): what it sends, in order, when it goes through and when its target fails, and
the release log's line."""

import io
import json
import re
import shlex

import pytest
from invoke import Result

from tasks.errors import DeployError
from tasks.executor import Executor
from tasks.pipelines.rollback import rollback
from tasks.report import Report
from tasks.settings import load
from tasks.target import Target
from tests.unit.recorded_host import RecordedHost
from tests.unit.test_deploy_failures import CHECK, KINDS, MIGRATE, READ_LOCK, TAKE_LOCK, Lock, kinds
from tests.unit.test_pipeline_dry_run import HEAD, image, probes

OLDER = "0" * 40
# Two releases served ok: OLDER, then HEAD (which serves).
RELEASE_LOG = "".join(
    json.dumps({"kind": "deploy", "host": "web1", "user": "ann", "ref": "main", "started": f"2026-12-0{day}T00:00:00Z", "result": "ok", "revision": revision}) + "\n"
    for day, revision in ((1, OLDER), (2, HEAD))
)
# The release images of both, proven by their labels; the plain names at what serves.
IMAGES = "\n".join(
    [
        image("sha256:d0", OLDER, [f"shop_django:{OLDER[:12]}"]),
        image("sha256:c0", OLDER, [f"shop_celeryworker:{OLDER[:12]}"]),
        image("sha256:d1", HEAD, [f"shop_django:{HEAD[:12]}", "shop_django:latest"]),
        image("sha256:c1", HEAD, [f"shop_celeryworker:{HEAD[:12]}", "shop_celeryworker:latest"]),
    ]
)
HEALTH = r"^sh -c 'url=\"\$0\"; end="
TO_OLDER_TAGS = r"^sh -c 'docker tag sha256:c0 shop_celeryworker && docker tag sha256:d0 shop_django'$"
TO_OLDER_CHECKOUT = rf"^cd /srv/shop && git checkout --quiet --detach {OLDER}$"


def target_on(tmp_path, extra: dict) -> tuple[Target, RecordedHost]:
    lock = Lock()
    # probes() first: an answer given again below replaces its value where it stands.
    answers = {
        **probes(),
        r"sh -c '\[ ! -e \"\$0\" \] \|\| cat \"\$0\"' /srv/shop/.git/composeship/releases.log": Result(RELEASE_LOG),
        r"sh -c 'docker image inspect": Result(IMAGES + "\n"),
        # Both revisions have the same migration files: nothing to reverse.
        r"git ls-tree --name-only": Result("notes/migrations/0001_initial.py\n"),
    }
    # `extra` first (the first pattern that matches answers), and its answers win.
    answers = {**extra, TAKE_LOCK: lock.take, READ_LOCK: lock.read, **answers, **extra, r".*": Result("")}
    host = RecordedHost(answers)
    environ = {"DEPLOY_CONFIG_DIR": str(tmp_path), "DEPLOY_PATH": "/srv/shop", "DEPLOY_HEALTHCHECK_URL": "http://127.0.0.1:8000/health/", "DEPLOY_HEALTHCHECK_TIMEOUT": "1"}
    out = io.StringIO()
    return Target("web1", load("production", host="web1", environ=environ), Executor(host, host="web1", out=out), Report("rollback", "web1", out=out)), host


def record_of(host: RecordedHost) -> dict:
    return json.loads(shlex.split(next(c for c in host.commands if re.match(KINDS["record"], c)))[-1])


def named(commands: list[str]) -> list[str]:
    more = {"to older tags": TO_OLDER_TAGS, "to older checkout": TO_OLDER_CHECKOUT}
    return [next((name for name, pattern in more.items() if re.match(pattern, c)), kind) for c, kind in zip(commands, kinds(commands), strict=True)]


def test_a_rollback_switches_to_the_release_before_restarts_it_and_records_it(tmp_path):
    t, host = target_on(tmp_path, {})
    with t.report:
        rollback(t, None, with_migrations=False)
    steps = [kind for kind in named(host.commands) if kind in ("to older tags", "to older checkout", "start new", "health", "record", "unlock")]
    assert steps == ["to older tags", "to older checkout", "start new", "health", "record", "unlock"]
    line = record_of(host)
    assert (line["kind"], line["result"], line["revision"], line["previous"]) == ("rollback", "ok", OLDER, HEAD)
    assert not any(re.match(MIGRATE, c) or re.match(CHECK, c) for c in host.commands), "same migration files: no container asked"


def test_a_rollback_whose_target_fails_its_health_gate_puts_what_served_back_and_says_so(tmp_path):
    gates = []

    def health(command):
        gates.append(command)
        return Result("HTTP 502\n", exited=1) if len(gates) == 1 else Result("HTTP 200\n")

    t, host = target_on(tmp_path, {HEALTH: health})
    with pytest.raises(DeployError) as failed:
        with t.report:
            rollback(t, None, with_migrations=False)
    assert "did not answer 2xx" in failed.value.what
    later = named(host.commands)[[i for i, kind in enumerate(named(host.commands)) if kind == "health"][0] + 1 :]
    assert [k for k in later if k in ("tags back", "checkout back", "start new", "health", "record", "unlock")] == ["tags back", "checkout back", "start new", "health", "record", "unlock"]
    line = record_of(host)
    assert (line["kind"], line["result"], line["revision"]) == ("rollback", "rolled back", OLDER)


# The release that serves added notes/migrations/0002_note_body.py; the one before lacks it.
FILES_AT_HEAD = rf"^cd /srv/shop && git ls-tree -r --name-only {HEAD}$"
FILES_AT_OLDER = rf"^cd /srv/shop && git ls-tree -r --name-only {OLDER}$"
SHOWMIGRATIONS = r"^cd /srv/shop && docker compose .* run .*manage\.py showmigrations --plan$"
OPERATIONS = r"^cd /srv/shop && docker compose .* run .*manage\.py shell -c 'LABELS = .*"
HAS_BACKUP = r"^cd /srv/shop && docker compose .* exec -T postgres sh -c 'command -v backup >/dev/null'$"
BACKUP = r"^cd /srv/shop && docker compose .* exec -T postgres backup$"
UNAPPLY = r"^cd /srv/shop && docker compose .* run --label composeship.migrate=true .* manage\.py migrate notes 0001_initial --noinput$"
REAPPLY = r"^cd /srv/shop && docker compose .* run --label composeship.migrate=true .* manage\.py migrate --noinput$"


def reversible(kind="AddField", ok=True):
    return Result("OPERATIONS " + json.dumps({"notes.0002_note_body": [[kind, ok, "an operation"]]}) + "\n")


def with_migrations(tmp_path, more: dict):
    answers = {
        FILES_AT_HEAD: Result("notes/migrations/0001_initial.py\nnotes/migrations/0002_note_body.py\n"),
        FILES_AT_OLDER: Result("notes/migrations/0001_initial.py\n"),
        SHOWMIGRATIONS: Result("[X]  notes.0001_initial\n[X]  notes.0002_note_body\n"),
        HAS_BACKUP: Result(""),
        BACKUP: Result("backup_2026_12_04.sql.gz\n"),
        UNAPPLY: Result("Operations to perform:\n  Target specific migration: 0001_initial, from notes\nRunning migrations:\n  Unapplying notes.0002_note_body... OK\n"),
        REAPPLY: Result("Running migrations:\n  Applying notes.0002_note_body... OK\n"),
        **more,
    }
    t, host = target_on(tmp_path, answers)
    return t, host


def order(host: RecordedHost) -> list[str]:
    named = {"backup": BACKUP, "unapply": UNAPPLY, "reapply": REAPPLY, "to older tags": TO_OLDER_TAGS, "start new": KINDS["start new"], "health": KINDS["health"], "record": KINDS["record"]}
    return [next(name for name, pattern in named.items() if re.match(pattern, c)) for c in host.commands if any(re.match(p, c) for p in named.values())]


def test_a_rollback_with_migrations_backs_up_then_reverses_them_then_switches(tmp_path):
    t, host = with_migrations(tmp_path, {OPERATIONS: reversible()})
    with t.report:
        rollback(t, None, with_migrations=True)
    assert order(host) == ["backup", "unapply", "to older tags", "start new", "health", "record"]
    line = record_of(host)
    assert (line["result"], line["unapplied"], line["backup"]) == ("ok", ["notes.0002_note_body"], "backup_2026_12_04.sql.gz")


def test_an_irreversible_migration_stops_the_rollback_before_anything_changes(tmp_path):
    t, host = with_migrations(tmp_path, {OPERATIONS: reversible("RunPython", ok=False)})
    with pytest.raises(DeployError) as refused:
        with t.report:
            rollback(t, None, with_migrations=True)
    assert refused.value.what == "cannot reverse the migrations: irreversible notes.0002_note_body (RunPython)"
    assert order(host) == ["record"], "no backup, no reversal, no switch"


def test_a_rollback_that_reversed_migrations_and_then_failed_applies_them_again_for_the_code_left(tmp_path):
    gates = []

    def health(command):
        gates.append(command)
        return Result("HTTP 502\n", exited=1) if len(gates) == 1 else Result("HTTP 200\n")

    t, host = with_migrations(tmp_path, {OPERATIONS: reversible(), HEALTH: health})
    with pytest.raises(DeployError):
        with t.report:
            rollback(t, None, with_migrations=True)
    assert order(host) == ["backup", "unapply", "to older tags", "start new", "health", "reapply", "start new", "health", "record"]
    line = record_of(host)
    assert line["result"] == "rolled back" and line["unapplied"] == ["notes.0002_note_body"] and "notes.0002_note_body applied again" in line["error"], line


def test_a_reversal_that_stops_half_way_switches_nothing_and_says_what_is_still_applied(tmp_path):
    """Two migrations to reverse; Django reverses the newer one, then fails on the other:
    the old code is not switched in, what was reversed is applied again for the code
    that serves, and the release log names both."""
    files_at_head = "notes/migrations/0001_initial.py\nnotes/migrations/0002_note_body.py\nnotes/migrations/0003_note_tag.py\n"
    half_way = Result(
        "Operations to perform:\n  Target specific migration: 0001_initial, from notes\nRunning migrations:\n  Unapplying notes.0003_note_tag... OK\n  Unapplying notes.0002_note_body...",
        stderr="django.db.utils.ProgrammingError: boom\n",
        exited=1,
    )
    t, host = with_migrations(
        tmp_path,
        {
            FILES_AT_HEAD: Result(files_at_head),
            SHOWMIGRATIONS: Result("[X]  notes.0001_initial\n[X]  notes.0002_note_body\n[X]  notes.0003_note_tag\n"),
            OPERATIONS: Result("OPERATIONS " + json.dumps({"notes.0002_note_body": [["AddField", True, "a"]], "notes.0003_note_tag": [["AddField", True, "b"]]}) + "\n"),
            UNAPPLY: half_way,
            REAPPLY: Result("Running migrations:\n  Applying notes.0003_note_tag... OK\n"),
        },
    )
    with pytest.raises(DeployError) as stopped:
        with t.report:
            rollback(t, None, with_migrations=True)
    assert "the reversal stopped half-way on web1" in stopped.value.what
    assert "reversed notes.0003_note_tag; still applied notes.0002_note_body" in stopped.value.what, stopped.value.what
    assert order(host) == ["backup", "unapply", "reapply", "record"], "no switch, no restart: the reversed one applied again"
    line = record_of(host)
    assert line["result"] == "failed" and line["unapplied"] == ["notes.0003_note_tag"] and "notes.0003_note_tag" in line["migrations"], line

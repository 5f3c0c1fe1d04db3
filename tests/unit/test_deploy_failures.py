"""deploy's failure branches on a recorded host: the real executor, each command
answered from a table (no SSH, no Docker), a failure caused where the branch begins.
What is asserted is what the host is told to do afterwards, in order: nothing restarted
and checkout and tags put back when the migration fails; the previous release
restarted when the new one fails its health gate; the release log's line and the
unlock either way."""

import io
import json
import re
import shlex
import signal

import pytest
from invoke import Result

from tasks.errors import DeployError
from tasks.executor import Executor
from tasks.facts import migration_safety as safety
from tasks.pipelines.deploy import deploy
from tasks.report import Report
from tasks.settings import load
from tasks.target import Target
from tests.unit.recorded_host import RecordedHost
from tests.unit.test_pipeline_dry_run import HEAD, NEW, probes

# Anchored: the release log's line quotes a failed command, and must not match it.
MIGRATE = r"^cd /srv/shop && docker compose .* run --label composeship.migrate=true .*"
CHECK = r"^cd /srv/shop && docker compose .* run .*manage\.py shell -c .*"
TAKE_LOCK = r"^sh -c 'l=\"\$0\"; \{ mkdir"
READ_LOCK = r"^sh -c '\[ -d \"\$0\" \] \|\| exit 3; cat \"\$0/info\""


class Lock:
    """The host's lock as the run leaves it: taken by its first command, read back
    with that command's token."""

    def __init__(self):
        self.token = ""

    def take(self, command: str) -> Result:
        self.token = re.search(r"token=([0-9a-f]+)", command)[1]
        return Result("")

    def read(self, command: str) -> Result:
        return Result(f"token={self.token}\n" if self.token else "", exited=0 if self.token else 3)


def report_with_0002() -> str:
    lines = [safety.MARK + json.dumps({"kind": "database", "vendor": "postgresql", "version": 150008})]
    lines.append(safety.MARK + json.dumps({"kind": "migration", "app": "notes", "name": "0001_initial", "applied": True}))
    lines.append(safety.MARK + json.dumps({"kind": "migration", "app": "notes", "name": "0002_note_body", "applied": False}))
    add = {"operation": "AddField", "description": "Add field body to note", "reversible": True, "model": "note", "field": "body", "new": {"null": True, "has_default": False}}
    lines.append(safety.MARK + json.dumps({"kind": "pending", "app": "notes", "name": "0002_note_body", "composeship": None, "dependencies": ["notes.0001_initial"], "operations": [add]}))
    return "\n".join(lines) + "\n"


def run_deploy(tmp_path, failing: dict) -> tuple[list[str], str, BaseException | None]:
    """deploy main on web1, the commands matching `failing` answered with its results,
    every other changing command with success. Returns the commands, the output, and
    what the deploy raised."""
    lock = Lock()
    answers = {**failing, TAKE_LOCK: lock.take, READ_LOCK: lock.read, **probes(), CHECK: Result(report_with_0002()), r".*": Result("")}
    host = RecordedHost(answers)
    environ = {"DEPLOY_CONFIG_DIR": str(tmp_path), "DEPLOY_PATH": "/srv/shop", "DEPLOY_HEALTHCHECK_URL": "http://127.0.0.1:8000/health/", "DEPLOY_HEALTHCHECK_TIMEOUT": "1"}
    out = io.StringIO()
    target = Target("web1", load("production", host="web1", environ=environ), Executor(host, host="web1", out=out), Report("deploy", "web1", out=out))
    raised = None
    try:
        with target.report:
            deploy([target], "main")
    except BaseException as problem:  # noqa: BLE001 - the test looks at it
        raised = problem
    return host.commands, out.getvalue(), raised


def after(commands: list[str], pattern: str) -> list[str]:
    at = next(i for i, command in enumerate(commands) if re.match(pattern, command))
    return commands[at + 1 :]


KINDS = {
    "read lock": READ_LOCK,
    "journal": r"^sh -c '\[ \"\$\(sed -n \"s/\^token=//p\" \"\$1/info\" 2>/dev/null\)\" = \"\$2\" \] \|\| exit 3; printf",
    "tags back": r"^sh -c 'docker tag sha256:c1 shop_celeryworker && docker tag sha256:d1 shop_django'$",
    "checkout back": rf"^cd /srv/shop && git checkout --quiet --detach {HEAD}$",
    "record": r"^sh -c '\[ -z \"\$3\" \] \|\| printf \"%s\\n\" \"\$4\" >> \"\$3\"",
    "unlock": r"^sh -c '\[ -d \"\$0\" \] \|\| exit 4; .*rm -rf -- \"\$0\"' /srv/shop/.git/composeship/lock [0-9a-f]+$",
    "health": r"^sh -c 'url=\"\$0\"; end=",
    "start new": r"^cd /srv/shop && docker compose .* up -d --no-recreate --no-build --scale .*",
    "what compose would recreate": r"^cd /srv/shop && docker compose .* --dry-run up -d .*",
    "up": r"^cd /srv/shop && docker compose .* up -d .*",
}


def kinds(commands: list[str]) -> list[str]:
    return [next((name for name, pattern in KINDS.items() if re.match(pattern, command)), "other") for command in commands]


def test_a_migration_that_fails_restarts_nothing_and_puts_checkout_and_tags_back(tmp_path):
    commands, output, raised = run_deploy(tmp_path, {MIGRATE: Result(stderr="django.db.utils.ProgrammingError: boom\n", exited=1)})
    assert isinstance(raised, DeployError) and "boom" in raised.what, output
    assert kinds(after(commands, MIGRATE)) == ["read lock", "journal", "tags back", "checkout back", "journal", "record", "unlock"]
    record = next(command for command in commands if re.match(KINDS["record"], command))
    line = json.loads(shlex.split(record)[-1])
    assert (line["result"], line["revision"], line["previous"], line["step"]) == ("failed", NEW, HEAD, "migrate")


def test_a_release_that_fails_its_health_gate_is_rolled_back_to_what_served_and_checked(tmp_path):
    gates = []

    def health(command):
        gates.append(command)
        return Result("HTTP 502\n", exited=1) if len(gates) == 1 else Result("HTTP 200\n")

    commands, output, raised = run_deploy(tmp_path, {r"^sh -c 'url=\"\$0\"; end=": health})
    assert isinstance(raised, DeployError) and "rolled back" in raised.what, output
    rest = [kind for kind in kinds(after(commands, KINDS["health"])) if kind != "other"]
    # Put back, restarted on the previous release's images, and that one answers.
    assert rest[:7] == ["read lock", "journal", "tags back", "checkout back", "what compose would recreate", "journal", "start new"], rest
    assert rest[-4:] == ["health", "journal", "record", "unlock"] and len(gates) == 2
    record = next(command for command in commands if re.match(KINDS["record"], command))
    line = json.loads(shlex.split(record)[-1])
    assert (line["result"], line["revision"], line["previous"]) == ("rolled back", NEW, HEAD)


def test_a_build_that_fails_migrates_nothing_and_puts_checkout_and_tags_back(tmp_path):
    build = r"^cd /srv/shop && sh -c 'f=\"\$1\" r=\"\$2\" n=\"\$3\";.* build celeryworker django$"
    commands, output, raised = run_deploy(tmp_path, {build: Result(stderr="failed to solve: process did not complete\n", exited=1)})
    assert isinstance(raised, DeployError), output
    assert kinds(after(commands, build)) == ["read lock", "journal", "tags back", "checkout back", "journal", "record", "unlock"]
    assert not any(re.match(MIGRATE, command) or re.match(CHECK, command) for command in commands)


def test_a_follower_that_fails_is_rolled_back_alone_and_the_error_names_what_serves_where(tmp_path):
    """web1 proves the release and keeps it; web2 fails its health gate after its own
    rollout and goes back to what served there."""
    hosts, targets, out = {}, [], io.StringIO()
    for name in ("web1", "web2"):
        gates = []

        def health(command, gates=gates, name=name):
            gates.append(command)
            return Result("HTTP 502\n", exited=1) if name == "web2" and len(gates) == 1 else Result("HTTP 200\n")

        lock = Lock()
        answers = {r"^sh -c 'url=\"\$0\"; end=": health, TAKE_LOCK: lock.take, READ_LOCK: lock.read, **probes(), CHECK: Result(report_with_0002()), r".*": Result("")}
        hosts[name] = RecordedHost(answers)
        environ = {"DEPLOY_CONFIG_DIR": str(tmp_path), "DEPLOY_PATH": "/srv/shop", "DEPLOY_HEALTHCHECK_URL": "http://127.0.0.1:8000/health/", "DEPLOY_HEALTHCHECK_TIMEOUT": "1"}
        targets.append(Target(name, load("production", host=name, environ=environ), Executor(hosts[name], host=name, out=out), Report("deploy", name, out=out)))
    with pytest.raises(DeployError) as failed:
        with targets[0].report:
            deploy(targets, "main")
    assert "web2 rolled back to the previous release 111111111111, which answers again" in failed.value.what
    assert "web1 run the new release" in failed.value.what
    assert not any(re.match(MIGRATE, command) for command in hosts["web2"].commands), "migrations run once, on the primary"
    lines = {name: json.loads(shlex.split(next(c for c in host.commands if re.match(KINDS["record"], c)))[-1]) for name, host in hosts.items()}
    assert (lines["web1"]["result"], lines["web2"]["result"]) == ("ok", "rolled back")
    assert kinds(hosts["web1"].commands).count("tags back") == 0, "web1 keeps the release"


def test_a_stop_during_the_restart_is_rolled_back_and_still_exits_as_the_signal_says(tmp_path):
    """SIGTERM while the new containers start: put back like a failure, but the exit
    code stays the signal's (143), as for a stop before the restart."""
    from tasks.executor import Stopped

    def stop(command):
        raise Stopped(signal.SIGTERM)

    stopped_once = []

    def scale_up(command):
        if not stopped_once:
            stopped_once.append(command)
            return stop(command)
        return Result("")

    commands, output, raised = run_deploy(tmp_path, {KINDS["start new"]: scale_up})
    assert isinstance(raised, DeployError) and raised.exit_code == 143, (raised, output)
    assert raised.what.startswith("interrupted by SIGTERM; web1 rolled back to the previous release 111111111111"), raised.what
    line = json.loads(shlex.split(next(c for c in commands if re.match(KINDS["record"], c)))[-1])
    assert line["result"] == "rolled back"

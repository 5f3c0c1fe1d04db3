"""The fault suite: for each step of `deploy` and each fault — SIGTERM to `fab`, SIGKILL
to `fab`, the SSH connection cut, the Docker Engine restarted — what the host is left
with, and whether the next run recovers: the right revision serving and a true
release log. Every fault is caused for real while the run holds still at the end of
the step (COMPOSESHIP_PAUSE_AT, a `sleep` on the host); `rollout` is in the middle of
the restart, when the new containers answer beside the old ones; at `post-migrate` the
release's migration is one marked to run after the rollout. One deployed project serves
a column of the matrix (its half, when it runs on two workers); each cell deploys a new
release (a new VERSION and a migration). The engine restarts happen to an engine of the
column's own (scripts/engine), so that they stop nothing else the suite runs meanwhile.
Each cell's result goes to .sandbox/fault-cells/; the table is written to
.sandbox/fault-table.md when the session ends (the README quotes it)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .fault_rows import record_row
from .helpers import REPO
from .remote import deployed_project, destroy_remote_project, engine
from .test_truth import serving_revision, start_fab
from .test_zero_downtime import django_containers

STEPS = ["lock", "fetch", "checkout", "build", "plan", "check", "backup", "migrate", "rollout", "restart", "health", "post-migrate", "record"]
FAULTS = ["SIGTERM", "SIGKILL", "SSH cut", "engine restart"]
# What runs after the fault, taken in turn across the table: each step meets each.
NEXT_RUNS = ["deploy of the same ref", "deploy of the next ref", "rollback"]
TABLE = REPO / ".sandbox" / "fault-table.md"
CELLS = REPO / ".sandbox" / "fault-cells"

MIGRATION = """from django.db import migrations


class Migration(migrations.Migration):
{mark}
    dependencies = [
        ("notes", "{previous}"),
    ]

    operations = [
        migrations.RunSQL("SELECT 1", migrations.RunSQL.noop),
    ]
"""


def deployed_drill(host, folder, **options):
    project = deployed_project(host, folder, **options)
    project.last_migration = "0001_initial"
    project.versions = {project.head(): project.page("/version/")[1]}
    return project


@pytest.fixture(scope="module")
def drill(sandbox_host, tmp_path_factory):
    project = deployed_drill(sandbox_host, tmp_path_factory.mktemp("faults"))
    yield project
    destroy_remote_project(project)


@pytest.fixture(scope="module")
def engine_drill(own_engine_host, tmp_path_factory):
    project = deployed_drill(own_engine_host, tmp_path_factory.mktemp("faults-engine"), address=own_engine_host["engine"]["address"])
    yield project
    destroy_remote_project(project)


def record_cell(step: str, fault: str, result: str) -> None:
    CELLS.mkdir(parents=True, exist_ok=True)
    (CELLS / f"{STEPS.index(step):02d}-{step}--{FAULTS.index(fault)}.txt").write_text(f"{step}\t{fault}\t{result}\n")


def write_table() -> None:
    """The table of every cell recorded in this session (conftest.py calls it at the end)."""
    found = {}
    for cell in sorted(CELLS.glob("*.txt")) if CELLS.exists() else []:
        step, fault, result = cell.read_text().rstrip("\n").split("\t", 2)
        found[step, fault] = result
    if not found:
        return
    lines = ["| step | " + " | ".join(FAULTS) + " |", "| --- |" + " --- |" * len(FAULTS)]
    for step in STEPS:
        cells = [found.get((step, fault), "not run") for fault in FAULTS]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    TABLE.parent.mkdir(exist_ok=True)
    TABLE.write_text("\n".join(lines) + "\n")


def new_release(project, label: str, post_deploy: bool = False) -> tuple[str, str]:
    """A new VERSION and a migration (marked to run after the rollout, or not)."""
    number = int(project.last_migration[:4]) + 1
    name = f"{number:04d}_drill"
    version = f"drill-{number}"
    mark = '    composeship = "post-deploy"\n' if post_deploy else ""
    revision = project.origin.commit(f"{label}; {version}", {"VERSION": f"{version}\n", f"notes/migrations/{name}.py": MIGRATION.format(previous=project.last_migration, mark=mark)})
    project.last_migration = name
    project.versions[revision] = version
    return revision, version


def next_ref(project, after: str) -> tuple[str, str]:
    """A code-only release on top of `after` (which it contains, migration and all)."""
    version = f"{project.versions[after]}-next"
    revision = project.origin.commit(f"the next ref; {version}", {"VERSION": f"{version}\n"})
    project.versions[revision] = version
    return revision, version


def next_run(step: str, fault: str) -> str:
    return NEXT_RUNS[(STEPS.index(step) + FAULTS.index(fault)) % len(NEXT_RUNS)]


def with_an_earlier_release(project) -> None:
    """A rollback needs a release before the one that serves: a fresh drill gets one."""
    if len({entry["revision"] for entry in project.releases() if entry["result"] == "ok"}) >= 2:
        return
    revision, _ = next_ref(project, project.head())
    deployed = project.fab("deploy", "--ref", revision)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr


def lock_info(project) -> dict:
    info = Path(project.path) / ".git" / "composeship" / "lock" / "info"
    return dict(line.split("=", 1) for line in info.read_text().splitlines() if "=" in line) if info.exists() else {}


def end_pause(project) -> None:
    subprocess.run(["pkill", "-u", project.host["user"], "-x", "sleep"], capture_output=True)


def wait_for_hold(project, seconds: int = 120, timeout: float = 90) -> None:
    """Until the run holds still on the host (its `sleep SECONDS` runs): the line that
    says so is printed before the sleep starts, and after a command that takes a while
    (a migrate container) the sleep starts only once it is done."""
    deadline = time.monotonic() + timeout
    while subprocess.run(["pgrep", "-u", project.host["user"], "-f", "-x", f"sleep {seconds}"], capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, f"the run never held still on the host (no `sleep {seconds}` after {timeout:g} s)"
        time.sleep(0.1)


def cause(fault: str, run: subprocess.Popen, project) -> None:
    wait_for_hold(project)
    if fault == "SIGTERM":
        run.send_signal(signal.SIGTERM)
    elif fault == "SIGKILL":
        run.kill()
        end_pause(project)
    elif fault == "SSH cut":
        # The connection's own sshd process on the host: its pid is in the lock.
        os.kill(int(lock_info(project)["sshd_pid"]), signal.SIGKILL)
    elif fault == "engine restart":
        facts = project.host["engine"]
        engine("restart", facts["name"], int(facts["address"].split(".")[2]))
        end_pause(project)


def left_with(project, old_version: str, new_version: str) -> str:
    try:
        status, body = project.page("/version/")
    except OSError:
        status, body = 0, ""
    serving = {old_version: "old release serves", new_version: "new release serves"}.get(body if status == 200 else "", "site down")
    journal = (Path(project.path) / ".git" / "composeship" / "journal.json").exists()
    return serving + (", lock held" if project.locked() else "") + (", journal" if journal else "")


def next_runs(project, *command: str) -> tuple[str, subprocess.CompletedProcess]:
    """`fab COMMAND`, doing what each refusal says until it goes through."""
    said = []
    for _ in range(3):
        result = project.fab(*command)
        if result.returncode == 0:
            return ("; ".join(said + ["recovered"])), result
        last = result.stderr.strip().splitlines()[-1]
        if "unlock --force" in last and "is locked by" in last:
            assert project.fab("unlock", "--force").returncode == 0
            said.append("refused: locked by the dead run; `unlock --force`")
        elif "docker wait" in last:
            project.docker("wait", re.search(r"`docker wait (\S+)`", last)[1], timeout=120)
            said.append("refused until its migrate container ended")
        else:
            raise AssertionError(result.stdout + result.stderr)
    raise AssertionError("no recovery after three runs")


def status_tells(project, old: tuple[str, str], new: tuple[str, str]) -> str:
    """`fab status --json` against what the host shows: the revision it names is the one
    the site serves (none when old and new containers both serve), the lock is the dead
    run's, and the killed run's journal is named when it is there. `old`, `new`:
    (version, revision) of the release before and of the faulted one."""
    # The killed run's sshd ends once it has seen the connection go (it may take it a
    # few seconds): until then the lock's holder is, truly, still connected.
    holder = Path(f"/proc/{lock_info(project).get('sshd_pid', '0')}")
    deadline = time.monotonic() + 30
    while holder.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not holder.exists(), "the killed run's sshd never ended"
    status = json.loads(project.fab("status", "--json").stdout)[0]
    page = project.page("/version/")
    serving = dict([old, new]).get(page[1]) if page[0] == 200 else None
    assert status["revision"] in (serving, None), (status["revision"], page)
    assert project.locked() and status["lock"] is not None and status["lock"]["holder_alive"] is False, status["lock"]
    journal = (Path(project.path) / ".git" / "composeship" / "journal.json").exists()
    assert (status["interrupted_run"] is not None) == journal, status["interrupted_run"]
    what = {old[1]: "the old release", new[1]: "the new release"}.get(status["revision"], "both releases' containers")
    return f"serving {what}, the lock of a dead run" + (", the stopped run's journal" if journal else "")


def in_halves(fault: str) -> list:
    """The cells of one fault, in two groups that pytest-xdist may run on two workers."""
    return [pytest.param(step, marks=pytest.mark.xdist_group(f"faults-{fault}-{int(STEPS.index(step) >= len(STEPS) // 2)}")) for step in STEPS]


@pytest.mark.parametrize("step", in_halves("SIGTERM"))
def test_sigterm_at_each_step_is_recovered(drill, step):
    fault_at(drill, step, "SIGTERM")


@pytest.mark.parametrize("step", in_halves("SIGKILL"))
def test_sigkill_at_each_step_is_recovered(drill, step):
    fault_at(drill, step, "SIGKILL")


@pytest.mark.parametrize("step", in_halves("SSH cut"))
def test_a_cut_ssh_connection_at_each_step_is_recovered(drill, step):
    fault_at(drill, step, "SSH cut")


# One group: each worker that ran part of it would build the stack's images afresh on
# an engine of its own.
@pytest.mark.parametrize("step", [pytest.param(step, marks=pytest.mark.xdist_group("faults-engine")) for step in STEPS])
def test_an_engine_restart_at_each_step_is_recovered(engine_drill, step):
    fault_at(engine_drill, step, "engine restart")


def fault_at(project, step: str, fault: str) -> None:
    then = next_run(step, fault)
    if then == "rollback":
        with_an_earlier_release(project)
    old_revision, old_version = project.head(), project.page("/version/")[1]
    entries_before = len(project.releases())
    revision, version = new_release(project, f"{fault} at {step}", post_deploy=step == "post-migrate")
    # PYTHONFAULTHANDLER: a run that hangs is ended with SIGABRT, which prints where each
    # of its threads was.
    end_pause(project)  # a pause an earlier cell's stopped run left going would look like this run's
    run = start_fab(project, "deploy", "--ref", revision, COMPOSESHIP_PAUSE_AT=f"{step}:120", PYTHONFAULTHANDLER="1")
    seen = []
    for line in run.stdout:
        seen.append(line)
        if line.startswith("drill: pausing"):
            break
    else:
        raise AssertionError("".join(seen) + run.stderr.read())
    cause(fault, run, project)
    try:
        out, err = run.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        run.send_signal(signal.SIGABRT)
        out, err = run.communicate(timeout=60)
        project.fab("unlock", "--force")  # the next cells start from a host that is not locked
        raise AssertionError(f"the run did not end within 300 s of the {fault} at {step}:\n" + "".join(seen) + out + err) from None
    left = left_with(project, old_version, version)
    # What the faulted run told its user is true of the host (an engine restart after
    # the health gate passed stops the containers only after that was so).
    if run.returncode == 0:
        if not (fault == "engine restart" and step in ("health", "post-migrate", "record")):
            assert project.page("/version/") == (200, version), out + err
    elif fault != "SIGKILL":
        assert err.strip().splitlines()[-1].startswith("error: "), err
    if fault == "engine restart" and STEPS.index(step) < STEPS.index("rollout"):
        # The engine is back before the restart is decided: what it stopped (the proxy
        # too) is started with the release, and the run ends as if nothing happened.
        assert run.returncode == 0, out + err

    print(out, err)
    if fault == "SIGKILL":
        # What runs next may be a look, not a deploy: `status` must tell what the
        # killed run left, as it is.
        left += f" → status: {status_tells(project, (old_version, old_revision), (version, revision))}"
    if then == "deploy of the next ref":
        expected, _ = next_ref(project, revision)
        how, recovered = next_runs(project, "deploy", "--ref", expected)
    elif then == "rollback":
        how, recovered = next_runs(project, "rollback")
        expected = project.releases()[-1]["revision"]
        assert expected not in (revision, None), project.releases()[-1]
    else:
        expected = revision
        how, recovered = next_runs(project, "deploy", "--ref", revision)
    # What the next run leaves, as a user would check it: the site, the image the
    # containers run, the checkout, the name `docker compose run` starts (a one-off,
    # `fab manage`), no lock, no journal, no container of a stopped rollout.
    assert project.page("/version/") == (200, project.versions[expected]), recovered.stdout
    assert serving_revision(project) == expected == project.head()
    latest = project.docker("image", "inspect", "--format", '{{index .Config.Labels "org.opencontainers.image.revision"}}', f"{project.image('django')}:latest", check=True)
    assert latest.stdout.strip() == expected, "latest names what serves"
    assert not project.locked()
    assert not (Path(project.path) / ".git" / "composeship" / "journal.json").exists()
    assert len(django_containers(project)) == 1, "no container of a stopped rollout is left"
    if then != "rollback":  # a rollback leaves applied what was, and applies nothing
        assert f"notes.{project.last_migration}" in project.stack.applied_migrations()

    # The release log tells the truth about both runs: the faulted one (when it got as
    # far as leaving a line) did not claim a success it did not have, and the last (the
    # next run's) says ok and names what serves.
    entries = project.releases()[entries_before:]
    assert entries and entries[-1]["result"] == "ok" and entries[-1]["revision"] == expected, entries
    assert entries[-1]["kind"] == ("rollback" if then == "rollback" else "deploy")
    for entry in entries[:-1]:
        assert entry["revision"] == revision and entry["previous"] == old_revision, entry
        assert entry["result"] in ("interrupted", "failed", "rolled back", "ok", "serving; post-deploy migrations failed"), (entry, out, err)
        if entry["result"] == "ok":
            # Stopped once the release was complete: every migration applied, or recorded.
            assert run.returncode == 0 or step in ("post-migrate", "record"), entry
    record_cell(step, fault, f"{left} → {then}: {how}")


@pytest.mark.xdist_group("faults-engine")
def test_a_hung_engine_ends_the_deploy_in_bounded_time_and_changes_nothing(engine_drill):
    """dockerd stopped with SIGSTOP answers nothing, ever: the deploy's first read of the
    engine gives up after the probe timeout, says what to look at, and leaves the host
    as it was; once the engine runs again, the same deploy goes through."""
    from tasks.executor import PROBE_TIMEOUT

    project = engine_drill
    old_revision, old_version = project.head(), project.page("/version/")[1]
    entries_before = len(project.releases())
    revision, version = new_release(project, "hung engine")
    pid = int(Path(f"/run/composeship-engines/{project.host['engine']['name']}/dockerd.pid").read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        hung = project.fab("deploy", "--ref", revision, timeout=PROBE_TIMEOUT * 4)
        took = time.monotonic() - began
    finally:
        os.kill(pid, signal.SIGCONT)
    assert hung.returncode == 1, hung.stdout + hung.stderr
    last = hung.stderr.strip().splitlines()[-1]
    assert re.match(rf"error: the Docker Engine on {project.alias} did not answer within {PROBE_TIMEOUT}s .*systemctl status docker", last), hung.stderr
    assert took < PROBE_TIMEOUT * 3, took
    assert project.head() == old_revision and not project.locked()
    assert project.page("/version/") == (200, old_version)
    assert len(project.releases()) == entries_before

    again = project.fab("deploy", "--ref", revision)
    assert again.returncode == 0, again.stdout + again.stderr
    assert project.page("/version/") == (200, version)
    record_row(
        "deploy",
        "preflight: its first read of the engine",
        "a hung Docker Engine (SIGSTOP)",
        "nothing changed; `the Docker Engine … did not answer within 30s`",
        "the same deploy once the engine runs: recovered",
    )

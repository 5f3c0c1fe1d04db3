"""A stop signal that comes *during* a server command, once the command has had its
effect (COMPOSESHIP_PAUSE_IN: the step's first command that changes the host holds
still in its own remote shell). composeship lets such a command finish and then stops;
what it then undoes must include what that command did: the lock it took, the
checkout it moved, the tags it moved. And whatever runs next finds the truth: no
stale lock, checkout and `latest` at what serves."""

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
from .remote import as_user, destroy_remote_project, make_remote_project
from .test_faults import deployed_drill, end_pause, lock_info, new_release, next_ref, wait_for_hold
from .test_truth import serving_revision, start_fab, wait_for_line
from .test_zero_downtime import django_containers

pytestmark = pytest.mark.xdist_group("faults-in-a-command")


@pytest.fixture(scope="module")
def project(sandbox_host, tmp_path_factory):
    project = deployed_drill(sandbox_host, tmp_path_factory.mktemp("in-a-command"))
    yield project
    destroy_remote_project(project)


def stopped_during(project, step: str, revision: str):
    """`fab deploy --ref revision`, SIGTERM while the step's first changing command runs."""
    run = start_fab(project, "deploy", "--ref", revision, COMPOSESHIP_PAUSE_IN=f"{step}:120")
    wait_for_line(run, "drill: the next command")
    wait_for_hold(project)
    run.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    end_pause(project)
    out, err = run.communicate(timeout=180)
    assert run.returncode == 143, out + err
    assert err.strip().splitlines()[-1].startswith("error: "), err
    return out + err


def latest_revision(project) -> str:
    """The revision label of the image that compose would run now (`latest`)."""
    return project.docker("image", "inspect", "--format", '{{index .Config.Labels "org.opencontainers.image.revision"}}', project.image("django"), check=True).stdout.strip()


def deployed(project, revision: str, version: str) -> None:
    result = project.fab("deploy", "--ref", revision)
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.page("/version/") == (200, version)
    assert serving_revision(project) == latest_revision(project) == project.head() == revision


def test_a_stop_while_the_lock_is_taken_releases_it(project):
    old = project.head()
    revision, version = new_release(project, "stopped while locking")
    said = stopped_during(project, "lock", revision)
    assert not project.locked(), said
    assert serving_revision(project) == latest_revision(project) == project.head() == old
    record_row("deploy", "lock: during the command", "SIGTERM", "old release serves, the lock it took released", "deploy of the same ref: recovered")
    # The next run is not told to break a dead run's lock.
    deployed(project, revision, version)


def test_a_stop_during_the_checkout_puts_it_back(project):
    old, old_version = project.head(), project.page("/version/")[1]
    revision, version = new_release(project, "stopped while checking out")
    said = stopped_during(project, "checkout", revision)
    assert project.page("/version/") == (200, old_version)
    assert project.head() == old, said
    assert not project.locked()
    assert project.releases()[-1]["result"] == "interrupted" and project.releases()[-1]["previous"] == old
    status = project.fab("status")
    assert status.returncode == 0 and old[:12] in status.stdout, status.stdout + status.stderr
    record_row("deploy", "checkout: during the command", "SIGTERM", "old release serves, the checkout back on it", "status, then deploy of the same ref: recovered")
    deployed(project, revision, version)


def test_a_stop_while_the_tags_move_puts_latest_back(project):
    newer, newer_version = project.head(), project.page("/version/")[1]
    rolled = project.fab("rollback")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    older = project.head()
    assert older != newer and serving_revision(project) == latest_revision(project) == older
    # Someone checks the newer revision out by hand: the deploy of it then has only the
    # tags to move (its images are there), and is stopped while it moves them.
    as_user(project.host["user"], "git", "-C", project.path, "checkout", "-q", newer)
    said = stopped_during(project, "build", newer)
    assert serving_revision(project) == older
    assert latest_revision(project) == older, said
    assert project.head() == older, said
    record_row("deploy", "build: while the tags move to images already there", "SIGTERM", "old release serves, `latest` back on it", "deploy of the same ref: recovered")
    deployed(project, newer, newer_version)


def test_a_stop_during_the_build_and_one_during_the_scale_up_each_leave_what_served(project):
    """SIGTERM while `docker compose build` runs (it finishes, then the run stops): the
    checkout and tags go back, nothing restarted. The same release again, SIGTERM while
    the new containers are started beside the old ones: they go, the old release serves
    on its own, `latest` names it. Then the release deploys."""
    old, old_version = project.head(), project.page("/version/")[1]
    revision, version = new_release(project, "stopped while building, then while scaling up")
    said = stopped_during(project, "build", revision)
    assert project.page("/version/") == (200, old_version), said
    assert serving_revision(project) == latest_revision(project) == project.head() == old, said
    assert not project.locked() and (project.releases()[-1]["result"], project.releases()[-1]["step"]) == ("interrupted", "build")
    record_row("deploy", "build: during `docker compose build`", "SIGTERM", "old release serves, checkout and `latest` back on it", "deploy of the same ref: recovered")

    said = stopped_during(project, "restart", revision)
    assert project.page("/version/") == (200, old_version), said
    assert serving_revision(project) == latest_revision(project) == project.head() == old, said
    assert len(django_containers(project)) == 1, "the stopped run's new container is gone"
    assert not project.locked() and project.releases()[-1]["result"] in ("interrupted", "rolled back"), project.releases()[-1]
    record_row("deploy", "restart: while the new containers start beside the old", "SIGTERM", "old release serves alone, the new containers gone", "deploy of the same ref: recovered")
    deployed(project, revision, version)


def test_after_a_kill_mid_rollout_migrate_only_goes_back_to_what_served(project):
    """The killed run's new containers run beside the old ones; the next run, whatever it
    is, stops them and puts `latest` and the checkout back at what served before."""
    old, old_version = project.head(), project.page("/version/")[1]
    revision, version = new_release(project, "killed mid-rollout")
    run = start_fab(project, "deploy", "--ref", revision, COMPOSESHIP_PAUSE_AT="rollout:120")
    wait_for_line(run, "drill: pausing")
    wait_for_hold(project)
    run.kill()
    run.communicate(timeout=60)
    end_pause(project)
    assert len(django_containers(project)) == 2  # old and new, both running
    # The killed run's lock stays (its connection is gone): broken as the refusal says.
    assert project.fab("unlock", "--force").returncode == 0
    migrated = project.fab("migrate-only")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "stopped its new containers" in migrated.stdout, migrated.stdout
    assert len(django_containers(project)) == 1
    assert project.page("/version/") == (200, old_version)
    assert serving_revision(project) == latest_revision(project) == project.head() == old
    killed = [entry for entry in project.releases() if entry["revision"] == revision]
    assert [entry["result"] for entry in killed] == ["interrupted"] and killed[0]["step"] == "restart"
    record_row(
        "deploy",
        "rollout: both releases' containers answer",
        "SIGKILL",
        "both releases' containers, lock held, journal",
        "`unlock --force`, then migrate-only: the killed run's containers stopped, what served before put back; recovered",
    )
    deployed(project, revision, version)


def end_pause_of(project, seconds: int) -> None:
    subprocess.run(["pkill", "-u", project.host["user"], "-f", "-x", f"sleep {seconds}"], capture_output=True)


def test_a_run_whose_lock_was_broken_changes_nothing_more_and_leaves_the_new_holder_alone(project):
    """Run A holds still after its build; its lock is broken (`unlock --force`) and run B
    takes the host. When A goes on, it finds its lock gone: it stops, undoes nothing
    (B's checkout and tags stay), records its line, and leaves B's lock and journal."""
    revision, version = new_release(project, "its lock broken")
    first = start_fab(project, "deploy", "--ref", revision, COMPOSESHIP_PAUSE_AT="check:120")
    wait_for_line(first, "drill: pausing")
    wait_for_hold(project)
    broken = project.fab("unlock", "--force")
    assert broken.returncode == 0, broken.stdout + broken.stderr
    second = start_fab(project, "deploy", "--ref", revision, COMPOSESHIP_PAUSE_AT="build:121")
    wait_for_line(second, "drill: pausing")
    wait_for_hold(project, 121)
    holder = lock_info(project)
    journal = Path(project.path) / ".git" / "composeship" / "journal.json"
    assert journal.exists() and project.head() == revision
    end_pause_of(project, 120)
    out, err = first.communicate(timeout=120)
    assert first.returncode != 0 and "was broken while this run held it" in err, out + err
    # B's lock, journal and checkout are as B left them.
    assert lock_info(project) == holder and journal.exists() and project.head() == revision
    assert latest_revision(project) == revision
    end_pause_of(project, 121)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, out + err
    assert project.page("/version/") == (200, version)
    assert serving_revision(project) == latest_revision(project) == project.head() == revision
    assert [entry["result"] for entry in project.releases() if entry["revision"] == revision][-1] == "ok"
    assert not project.locked() and not journal.exists()
    record_row(
        "deploy",
        "after its build: its lock broken by `unlock --force`, another deploy holding the host",
        "`unlock --force` of a live run",
        "the broken run stopped, undoing nothing; the other run's lock, journal and checkout untouched",
        "the other deploy goes on: recovered",
    )


SLOW_MIGRATION = """from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("notes", "{previous}"),
    ]

    operations = [
        migrations.RunSQL("SELECT pg_sleep(20)", migrations.RunSQL.noop),
    ]
"""


def test_a_migrate_container_that_outlives_its_lost_connection_stops_the_next_run(project):
    """The SSH connection is cut while `migrate` runs: the run reconnects, cleans up and
    records itself, while its migrate container goes on. The next deploy finds that
    container (no journal is left to point at it) and migrates nothing beside it."""
    number = int(project.last_migration[:4]) + 1
    name = f"{number:04d}_slow"
    revision = project.origin.commit("a slow migration", {"VERSION": f"slow-{number}\n", f"notes/migrations/{name}.py": SLOW_MIGRATION.format(previous=project.last_migration)})
    project.last_migration = name
    run = start_fab(project, "deploy", "--ref", revision)
    wait_for_line(run, "==> migrate")
    time.sleep(3)
    os.kill(int(lock_info(project)["sshd_pid"]), signal.SIGKILL)
    out, err = run.communicate(timeout=120)
    assert run.returncode != 0, out + err
    # This project's only: other workers' deploys migrate on the same engine meanwhile.
    mine = f"label=com.docker.compose.project={project.compose_project}"
    migrating = project.docker("ps", "--quiet", "--filter", "label=composeship.migrate=true", "--filter", mine, check=True).stdout.split()
    assert len(migrating) == 1, out + err
    assert not project.locked() and not (Path(project.path) / ".git" / "composeship" / "journal.json").exists()
    refused = project.fab("deploy", "--ref", revision)
    assert refused.returncode != 0 and "is still running" in refused.stderr and "docker wait" in refused.stderr, refused.stdout + refused.stderr
    project.docker("wait", migrating[0], timeout=60)
    deployed(project, revision, f"slow-{number}")
    assert project.stack.sql(f"select count(*) from django_migrations where app = 'notes' and name = '{name}'") == ["1"]
    record_row(
        "deploy",
        "migrate: during the command",
        "SSH cut",
        "old release serves, lock released, its migrate container still running",
        "deploy of the same ref: refused until its migrate container ended; recovered",
    )


def test_a_connection_cut_between_two_commands_ends_the_run_instead_of_going_on_over_a_new_one(project):
    """The checkout's command has run and its shell holds still; `fab` is stopped
    (SIGSTOP), the hold ends (the command exits 0, its status on its way to `fab`), and
    then the connection's sshd is killed: when `fab` goes on (SIGCONT) its command had
    ended well, and the cut is there for the next command to find. Fabric would open a
    new connection for it, and the deploy would go on while its lock named a dead
    connection (`status` would call the run gone and offer `unlock --force`). The run
    stops instead, says the connection was lost, and its cleanup (over a new
    connection) puts the checkout back and releases the lock; the next deploy of the
    same ref goes through."""
    old, old_version = project.head(), project.page("/version/")[1]
    entries_before = len(project.releases())
    revision, version = new_release(project, "cut between two commands")
    end_pause(project)
    run = start_fab(project, "deploy", "--ref", revision, COMPOSESHIP_PAUSE_IN="checkout:120")
    said = wait_for_line(run, "drill: the next command")
    wait_for_hold(project)
    sshd = int(lock_info(project)["sshd_pid"])
    run.send_signal(signal.SIGSTOP)
    try:
        end_pause(project)
        time.sleep(1)  # sshd sends the command's exit status before it is killed
        os.kill(sshd, signal.SIGKILL)
        time.sleep(1)
    finally:
        run.send_signal(signal.SIGCONT)
    out, err = run.communicate(timeout=180)
    said = "".join(said) + out + err
    assert run.returncode == 1, said
    assert re.match(rf"error: the SSH connection to {project.alias} was lost (before|while) `", err.strip().splitlines()[-1]), said
    assert project.page("/version/") == (200, old_version), said
    assert project.head() == old and not project.locked(), said
    assert not (Path(project.path) / ".git" / "composeship" / "journal.json").exists()
    entries = project.releases()[entries_before:]
    assert [(entry["revision"], entry["result"]) for entry in entries] == [(revision, "interrupted")], entries
    deployed(project, revision, version)
    record_row(
        "deploy",
        "checkout: between two commands (the last one ended well)",
        "SSH cut",
        "old release serves, checkout put back over a new connection, lock released",
        "deploy of the same ref: recovered",
    )


def test_a_rollback_stopped_after_reversing_migrations_applies_them_again_for_the_code_it_leaves(project):
    """`rollback --migrations` reverses the newer release's migration, switches, and is
    stopped: the newer code goes on serving, with its migration applied again, and the
    release log says what was reversed and applied."""
    revision, version = new_release(project, "reversed, then stopped")
    deployed(project, revision, version)
    label = f"notes.{project.last_migration}"
    run = start_fab(project, "rollback", "--migrations", "--no-backup", COMPOSESHIP_PAUSE_AT="switch:120")
    wait_for_line(run, "drill: pausing")
    wait_for_hold(project)
    assert label not in project.stack.applied_migrations()
    run.send_signal(signal.SIGTERM)
    end_pause(project)
    out, err = run.communicate(timeout=180)
    assert run.returncode == 143, out + err
    assert label in project.stack.applied_migrations(), out + err
    assert project.page("/version/") == (200, version)
    assert serving_revision(project) == latest_revision(project) == project.head() == revision
    entry = project.releases()[-1]
    assert entry["kind"] == "rollback" and entry["result"] == "rolled back", entry
    assert label in entry["unapplied"] and label in entry["migrations"], entry
    # What runs next is told the truth: the release serves with its migrations.
    again = project.fab("deploy", "--ref", revision)
    assert again.returncode == 0 and label in project.stack.applied_migrations(), again.stdout + again.stderr
    record_row(
        "rollback --migrations",
        "switch: after its reversal of migrations",
        "SIGTERM",
        "the newer release serves, its reversed migration applied again and both recorded",
        "deploy of the same ref: recovered",
    )


def test_a_stalled_origin_ends_the_run_with_what_to_check_and_changes_nothing(project):
    """origin accepts the connection and never answers (a hung git server): the run
    does not wait for good, and leaves the host as it was."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stalled = f"git://127.0.0.1:{listener.getsockname()[1]}/shop.git"
    url = as_user(project.host["user"], "git", "-C", project.path, "remote", "get-url", "origin").stdout.strip()
    as_user(project.host["user"], "git", "-C", project.path, "remote", "set-url", "origin", stalled)
    before = (project.head(), project.page("/version/"), len(project.releases()))
    try:
        result = project.fab("deploy", "--ref", "main")
    finally:
        as_user(project.host["user"], "git", "-C", project.path, "remote", "set-url", "origin", url)
        listener.close()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "origin did not answer `git ls-remote`" in result.stderr and "within 30s" in result.stderr, result.stderr
    assert (project.head(), project.page("/version/"), len(project.releases())) == before
    assert not project.locked()
    record_row(
        "deploy",
        "preflight: `git ls-remote` of origin",
        "origin stalled (accepts, never answers)",
        "nothing changed; `origin did not answer … within 30s`",
        "refused with a clear message, nothing changed",
    )


def test_a_rollback_killed_mid_rollout_then_the_rollback_again(project):
    """A rollback (no --migrations) is killed while the older release's containers run
    beside the newer ones: `status` says what the host runs, and the next rollback finds
    the dead run's journal, puts back what served before it, then rolls back itself.
    Checkout, `latest` and the release log name what serves at every stage."""
    older, older_version = project.head(), project.page("/version/")[1]
    revision, version = new_release(project, "rolled back, killed")
    deployed(project, revision, version)
    run = start_fab(project, "rollback", COMPOSESHIP_PAUSE_AT="rollout:120")
    wait_for_line(run, "drill: pausing")
    wait_for_hold(project)
    run.kill()
    run.communicate(timeout=60)
    end_pause(project)
    assert len(django_containers(project)) == 2, "both releases' containers run"
    # The killed run's sshd ends once it has seen the connection go.
    holder, deadline = Path(f"/proc/{lock_info(project)['sshd_pid']}"), time.monotonic() + 30
    while holder.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    status = json.loads(project.fab("status", "--json").stdout)[0]
    assert (status["interrupted_run"]["kind"], status["interrupted_run"]["target"]) == ("rollback", older), status
    assert status["lock"]["holder_alive"] is False, status["lock"]
    assert project.fab("unlock", "--force").returncode == 0
    again = project.fab("rollback")
    assert again.returncode == 0, again.stdout + again.stderr
    assert project.page("/version/") == (200, older_version)
    assert serving_revision(project) == latest_revision(project) == project.head() == older
    assert len(django_containers(project)) == 1 and not project.locked()
    assert not (Path(project.path) / ".git" / "composeship" / "journal.json").exists()
    last_two = project.releases()[-2:]
    assert [(entry["kind"], entry["result"], entry["revision"]) for entry in last_two] == [("rollback", "interrupted", older), ("rollback", "ok", older)], last_two
    record_row(
        "rollback",
        "rollout: both releases' containers answer",
        "SIGKILL",
        "both releases' containers, lock held, journal → status: a dead rollback and its target",
        "`unlock --force`, then rollback: what served before it put back, then rolled back; recovered",
    )
    # And forward again: the release rolled back from deploys as a release does.
    deployed(project, revision, version)


def test_a_setup_stopped_in_its_first_clone_is_finished_by_the_next_setup(sandbox_host, tmp_path):
    """SIGTERM once `git init` of setup's first clone has run (the step's second command
    that changes the host, after the folder's creation): the repository is there with
    no commit. The next `setup` finishes the clone instead of taking it for a checkout,
    and the first deploy then serves."""
    fresh = make_remote_project(sandbox_host, tmp_path)
    try:
        run = start_fab(fresh, "setup", COMPOSESHIP_PAUSE_IN="checkout#2:120")
        wait_for_line(run, "drill: the next command")
        wait_for_hold(fresh)
        run.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        end_pause(fresh)
        out, err = run.communicate(timeout=120)
        assert run.returncode == 143, out + err
        assert (Path(fresh.path) / ".git").is_dir() and as_user(fresh.host["user"], "git", "-C", fresh.path, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0
        again = fresh.fab("setup")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "is ready" in again.stdout and fresh.head() == fresh.origin.revisions[-1], again.stdout
        record_row("setup", "its first clone: once `git init` ran", "SIGTERM", "a repository without a commit", "setup again, then the first deploy: recovered")
        deployed = fresh.fab("deploy")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert fresh.page("/version/")[0] == 200 and serving_revision(fresh) == fresh.head()
    finally:
        destroy_remote_project(fresh)


def test_a_stop_while_the_old_containers_retire_puts_the_old_release_back_alone(project):
    """SIGTERM while the old containers are stopped (the restart's third command that
    changes the host, after the scale-up and the wait): the retire finishes, so the new
    release serves alone for a moment; then the run stops as a failure in the restart
    does, and the old release is rolled out again. One release serves, and checkout,
    `latest` and the release log name it; the next ref then deploys."""
    old, old_version = project.head(), project.page("/version/")[1]
    revision, _ = new_release(project, "stopped while the old containers retire")
    run = start_fab(project, "deploy", "--ref", revision, COMPOSESHIP_PAUSE_IN="restart#3:120")
    said = wait_for_line(run, "drill: the next command")
    wait_for_hold(project)
    run.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    end_pause(project)
    out, err = run.communicate(timeout=180)
    said = "".join(said) + out + err
    assert run.returncode == 143 and "docker stop --time" in said, said
    assert project.page("/version/") == (200, old_version), said
    assert serving_revision(project) == latest_revision(project) == project.head() == old, said
    assert len(django_containers(project)) == 1 and not project.locked()
    entry = project.releases()[-1]
    assert (entry["revision"], entry["result"], entry["step"]) == (revision, "rolled back", "restart"), entry
    record_row("deploy", "restart: while the old containers are stopped", "SIGTERM", "old release serves (rolled back)", "deploy of the next ref: recovered")
    following, version = next_ref(project, revision)
    deployed(project, following, version)


def test_a_migrate_only_stopped_during_its_migrate_records_what_it_applied(project):
    """migrate-only, SIGTERM while its `migrate` runs: the command finishes (stopping the
    wait would leave it running unlocked), the lock is released, and the release log
    says the run was interrupted and names the migration it applied. `status` then shows
    nothing pending, and the next migrate-only applies nothing."""
    label = project.last_migration
    previous = f"{int(label[:4]) - 1:04d}"
    target = next(name for name in project.stack.sql("select name from django_migrations where app = 'notes'") if name.startswith(previous))
    unapplied = project.fab("manage", "--", "migrate", "notes", target)
    assert unapplied.returncode == 0 and f"notes.{label}" not in project.stack.applied_migrations(), unapplied.stdout + unapplied.stderr
    run = start_fab(project, "migrate-only", COMPOSESHIP_PAUSE_IN="migrate:120")
    said = wait_for_line(run, "drill: the next command")
    wait_for_hold(project)
    run.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    end_pause(project)
    out, err = run.communicate(timeout=180)
    assert run.returncode == 143, "".join(said) + out + err
    assert f"notes.{label}" in project.stack.applied_migrations()
    assert not project.locked() and not (Path(project.path) / ".git" / "composeship" / "journal.json").exists()
    entry = project.releases()[-1]
    assert (entry["kind"], entry["result"], entry["step"]) == ("migrate-only", "interrupted", "migrate"), entry
    assert f"notes.{label}" in entry["migrations"], entry
    status = json.loads(project.fab("status", "--json").stdout)[0]
    assert status["pending_migrations"] == [], status
    again = project.fab("migrate-only")
    assert again.returncode == 0, again.stdout + again.stderr
    assert project.releases()[-1]["result"] == "ok" and project.releases()[-1]["migrations"] == [], project.releases()[-1]
    record_row("migrate-only", "migrate: during the command", "SIGTERM", f"its migration applied and recorded ({label})", "status, then migrate-only: recovered")


BROKEN_MIGRATION = """from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("notes", "{previous}"),
    ]

    operations = [
        migrations.RunSQL("UPDATE table_that_does_not_exist SET x = 1"),
    ]
"""


def test_a_deploy_killed_in_its_own_cleanup_is_recovered_by_the_next_run(project):
    """The release's migration fails; while the cleanup puts things back (its image
    tags moved, the checkout not yet), the run is killed. The host keeps the lock, the
    journal and a checkout of the failed release: `status` says so, and the next deploy
    (of a fixed release) recovers what served, then deploys."""
    old, old_version = project.head(), project.page("/version/")[1]
    number = int(project.last_migration[:4]) + 1
    name = f"{number:04d}_broken"
    broken = project.origin.commit("a broken migration", {"VERSION": f"broken-{number}\n", f"notes/migrations/{name}.py": BROKEN_MIGRATION.format(previous=project.last_migration)})
    run = start_fab(project, "deploy", "--ref", broken, COMPOSESHIP_PAUSE_IN="revert:120")
    said = wait_for_line(run, "drill: the next command")
    wait_for_hold(project)
    run.kill()
    run.communicate(timeout=60)
    end_pause(project)
    assert project.page("/version/") == (200, old_version), "".join(said)
    assert serving_revision(project) == old and project.head() == broken
    assert project.locked() and (Path(project.path) / ".git" / "composeship" / "journal.json").exists()
    holder, deadline = Path(f"/proc/{lock_info(project)['sshd_pid']}"), time.monotonic() + 30
    while holder.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    status = json.loads(project.fab("status", "--json").stdout)[0]
    assert status["revision"] == old and status["lock"]["holder_alive"] is False and status["interrupted_run"]["target"] == broken, status
    fixed = project.origin.commit("the migration fixed", {"VERSION": f"fixed-{number}\n", f"notes/migrations/{name}.py": MIGRATION_THAT_WORKS.format(previous=project.last_migration)})
    project.last_migration = name
    project.versions[fixed] = f"fixed-{number}"
    refused = project.fab("deploy", "--ref", fixed)
    assert refused.returncode != 0 and "unlock --force" in refused.stderr, refused.stdout + refused.stderr
    assert project.fab("unlock", "--force").returncode == 0
    deployed(project, fixed, f"fixed-{number}")
    assert f"notes.{name}" in project.stack.applied_migrations()
    killed = [entry for entry in project.releases() if entry["revision"] == broken]
    assert [entry["result"] for entry in killed] == ["interrupted"] and killed[0]["previous"] == old, killed
    record_row(
        "deploy",
        "the cleanup after a failed migration: while it puts the checkout back",
        "SIGKILL",
        "old release serves; the checkout on the failed one, lock held, journal → status: serving the old release, the lock of a dead run, the stopped run's journal",
        "deploy of a fixed ref: refused: locked by the dead run; `unlock --force`; recovered",
    )


MIGRATION_THAT_WORKS = """from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("notes", "{previous}"),
    ]

    operations = [
        migrations.RunSQL("SELECT 1", migrations.RunSQL.noop),
    ]
"""


def test_a_healthcheck_and_a_drain_command_that_never_end_are_cut_off_and_one_release_serves(project):
    """Waits that never end on their own, each cut off within DEPLOY_HEALTHCHECK_TIMEOUT
    (not the hour the command would take). A release whose container healthcheck
    hangs: the run fails saying why, the old release serves alone, and checkout,
    `latest` and the release log name it. Then the healthcheck mended, with a drain
    command that hangs in the old container: the new one answers, so the old one is
    stopped as without a drain, and the run says so."""
    old, old_version = project.head(), project.page("/version/")[1]
    compose_file = project.origin.work / "docker-compose.production.yml"
    healthy = compose_file.read_text()
    hanging = re.sub(r'test: \["CMD", "bash".*\n', 'test: ["CMD", "sleep", "3599"]\n', healthy, count=1)
    assert hanging != healthy
    revision = project.origin.commit("a healthcheck that hangs", {"VERSION": "hangs\n", "docker-compose.production.yml": hanging})
    began = time.monotonic()
    hung = project.fab("deploy", "--ref", revision, DEPLOY_HEALTHCHECK_TIMEOUT="8", timeout=300)
    took = time.monotonic() - began
    assert hung.returncode == 1 and "did not answer within 8s" in hung.stderr, hung.stdout + hung.stderr
    assert took < 120, took
    assert project.page("/version/") == (200, old_version)
    assert serving_revision(project) == latest_revision(project) == project.head() == old
    assert len(django_containers(project)) == 1 and not project.locked()
    assert project.releases()[-1]["result"] in ("failed", "rolled back") and project.releases()[-1]["revision"] == revision, project.releases()[-1]
    record_row(
        "deploy",
        "restart: a container healthcheck that never ends (`sleep 3599`)",
        "a wait that never ends",
        "old release serves alone, the new container gone; `did not answer within 8s`",
        "the next ref deploys: recovered",
    )

    mended = project.origin.commit("the healthcheck mended", {"VERSION": "mended\n", "docker-compose.production.yml": healthy})
    project.versions[mended] = "mended"
    began = time.monotonic()
    drained = project.fab("deploy", "--ref", mended, DEPLOY_HEALTHCHECK_TIMEOUT="20", DEPLOY_ROLLOUT_DRAIN_COMMAND="sleep 3598", timeout=300)
    took = time.monotonic() - began
    # The new containers answer: the old ones are stopped as without a drain, and it is said.
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert "warning: the drain command failed or did not end in" in drained.stdout, drained.stdout
    assert took < 150, took
    assert project.page("/version/") == (200, "mended")
    assert serving_revision(project) == latest_revision(project) == project.head() == mended
    assert len(django_containers(project)) == 1 and not project.locked()
    assert project.releases()[-1]["result"] == "ok", project.releases()[-1]
    record_row(
        "deploy",
        "restart: a drain command that never ends (`sleep 3598`)",
        "a wait that never ends",
        "cut off within DEPLOY_HEALTHCHECK_TIMEOUT, said in a warning; the new containers answered, so the old ones were stopped as without a drain: the release serves",
        "nothing to recover: ok",
    )

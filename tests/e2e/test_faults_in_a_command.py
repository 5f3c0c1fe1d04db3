"""A stop signal that comes *during* a server command, once the command has had its
effect (COMPOSESHIP_PAUSE_IN: the step's first command that changes the host holds
still in its own remote shell). composeship lets such a command finish and then stops;
what it then undoes must include what that command did: the lock it took, the
checkout it moved, the tags it moved. And whatever runs next finds the truth: no
stale lock, checkout and `latest` at what serves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .remote import as_user, destroy_remote_project, make_remote_project
from .test_faults import deployed_drill, end_pause, lock_info, new_release
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
    time.sleep(1.5)  # the command has run; its shell sleeps
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

    said = stopped_during(project, "restart", revision)
    assert project.page("/version/") == (200, old_version), said
    assert serving_revision(project) == latest_revision(project) == project.head() == old, said
    assert len(django_containers(project)) == 1, "the stopped run's new container is gone"
    assert not project.locked() and project.releases()[-1]["result"] in ("interrupted", "rolled back"), project.releases()[-1]
    deployed(project, revision, version)


def test_after_a_kill_mid_rollout_migrate_only_goes_back_to_what_served(project):
    """The killed run's new containers run beside the old ones; the next run, whatever it
    is, stops them and puts `latest` and the checkout back at what served before."""
    old, old_version = project.head(), project.page("/version/")[1]
    revision, version = new_release(project, "killed mid-rollout")
    run = start_fab(project, "deploy", "--ref", revision, COMPOSESHIP_PAUSE_AT="rollout:120")
    wait_for_line(run, "drill: pausing")
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
    broken = project.fab("unlock", "--force")
    assert broken.returncode == 0, broken.stdout + broken.stderr
    second = start_fab(project, "deploy", "--ref", revision, COMPOSESHIP_PAUSE_AT="build:121")
    wait_for_line(second, "drill: pausing")
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


def test_a_rollback_stopped_after_reversing_migrations_applies_them_again_for_the_code_it_leaves(project):
    """`rollback --migrations` reverses the newer release's migration, switches, and is
    stopped: the newer code goes on serving, with its migration applied again, and the
    release log says what was reversed and applied."""
    revision, version = new_release(project, "reversed, then stopped")
    deployed(project, revision, version)
    label = f"notes.{project.last_migration}"
    run = start_fab(project, "rollback", "--migrations", "--no-backup", COMPOSESHIP_PAUSE_AT="switch:120")
    wait_for_line(run, "drill: pausing")
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
        time.sleep(1.5)
        run.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        end_pause(fresh)
        out, err = run.communicate(timeout=120)
        assert run.returncode == 143, out + err
        assert (Path(fresh.path) / ".git").is_dir() and as_user(fresh.host["user"], "git", "-C", fresh.path, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0
        again = fresh.fab("setup")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "is ready" in again.stdout and fresh.head() == fresh.origin.revisions[-1], again.stdout
        deployed = fresh.fab("deploy")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert fresh.page("/version/")[0] == 200 and serving_revision(fresh) == fresh.head()
    finally:
        destroy_remote_project(fresh)

"""The host's truth: composeship decides from what the containers run and tells what
really happened, after signals, a dead run, a checkout moved by hand, credentials in a
URL, and a dry run with hooks."""

import json
import re
import signal
import subprocess
import time
from pathlib import Path

from .fault_rows import record_row
from .helpers import BIN, REPO, assert_one_error_line
from .remote import as_user
from .test_deploy import SLOW_MIGRATION_0002, deploy_ok

SLOWER_MIGRATION_0002 = SLOW_MIGRATION_0002.replace("pg_sleep(6)", "pg_sleep(20)")


def start_fab(project, *args, **extra):
    argv = [str(BIN / "fab"), "-S", project.host["ssh_config"], "-H", project.alias, *args]
    return subprocess.Popen(argv, cwd=REPO, env=project.env(**extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def wait_for_line(run, prefix: str) -> list[str]:
    seen = []
    for line in run.stdout:
        seen.append(line)
        if line.startswith(prefix):
            return seen
    raise AssertionError("".join(seen) + run.stderr.read())


def serving_revision(project) -> str:
    """The revision label of the image the django container runs, read with docker."""
    container = project.stack.compose("ps", "-q", "django").stdout.strip()
    image = project.docker("inspect", "--format", "{{.Image}}", container, check=True).stdout.strip()
    return project.docker("image", "inspect", "--format", '{{index .Config.Labels "org.opencontainers.image.revision"}}', image, check=True).stdout.strip()


def test_sigterm_during_a_slow_migration_then_the_same_ref_again(remote_project):
    project = remote_project
    deploy_ok(project)
    old = project.head()
    revision = project.origin.commit("slow migration; 1.2.0", {"VERSION": "1.2.0\n", "notes/migrations/0002_slow.py": SLOWER_MIGRATION_0002})
    run = start_fab(project, "deploy", "--ref", revision)
    seen = wait_for_line(run, "==> migrate")
    time.sleep(2)
    run.send_signal(signal.SIGTERM)
    rest, err = run.communicate(timeout=300)
    output = "".join(seen) + rest
    assert run.returncode == 143, output + err
    assert "interrupt (SIGTERM): letting `" in err
    assert err.strip().splitlines()[-1].startswith("error: interrupted by SIGTERM")
    # Handled like Ctrl-C: the migration ran to its end, then nothing was restarted,
    # checkout and image tags went back, and the lock is gone.
    assert "notes.0002_slow" in project.stack.applied_migrations()
    assert project.page("/version/") == (200, "1.0.0")
    assert serving_revision(project) == old and project.head() == old
    assert not project.locked()

    again = deploy_ok(project, "--ref", revision)
    assert project.page("/version/") == (200, "1.2.0")
    assert serving_revision(project) == revision
    interrupted, ok = project.releases()[-2:]
    assert (interrupted["result"], interrupted["revision"], interrupted["step"], interrupted["migrations"]) == ("interrupted", revision, "migrate", ["notes.0002_slow"])
    assert "interrupted by SIGTERM" in interrupted["error"]
    assert (ok["result"], ok["revision"], ok["previous"]) == ("ok", revision, old)
    assert "rolled out django, celeryworker: no downtime" in again.stdout
    table = project.fab("releases").stdout
    assert "interrupted at migrate" in table


def test_a_checkout_moved_by_hand_never_renames_what_serves(remote_project):
    project = remote_project
    deploy_ok(project)
    x = project.head()
    y = project.origin.commit("1.1.0 (Y)", {"VERSION": "Y\n"})
    z = project.origin.commit("1.2.0 (Z)", {"VERSION": "Z\n"})
    user = project.host["user"]
    assert as_user(user, "git", "-C", project.path, "fetch", "-q", "origin").returncode == 0
    assert as_user(user, "git", "-C", project.path, "checkout", "-q", "--detach", y).returncode == 0
    assert project.page("/version/") == (200, "1.0.0")

    status = json.loads(project.fab("status", "--json").stdout)[0]
    assert status["revision"] == x and status["checkout"] == y

    deploy_ok(project, "--ref", z)
    assert project.page("/version/") == (200, "Z")
    again = deploy_ok(project, "--ref", y)
    assert project.page("/version/") == (200, "Y"), again.stdout
    assert serving_revision(project) == y
    assert [(e["previous"], e["revision"]) for e in project.releases()[-2:]] == [(x, z), (z, y)]


def test_credentials_in_the_repository_url_appear_nowhere(sandbox_host, tmp_path):
    from .remote import destroy_remote_project, make_remote_project

    project = make_remote_project(sandbox_host, tmp_path)
    try:
        secret = "hunter2-s3cret"
        url = f"https://deployer:{secret}@127.0.0.1:9/shop.git"
        results = [
            project.fab("deploy", DEPLOY_REPO_URL=url),
            project.fab("deploy", "--dry-run", DEPLOY_REPO_URL=url),
            project.fab("status", "--json", DEPLOY_REPO_URL=url),
            project.fab("releases", "--json", DEPLOY_REPO_URL=url),
        ]
        for result in results:
            assert result.returncode == 2
            assert secret not in result.stdout + result.stderr
        assert_one_error_line(results[0], "DEPLOY_REPO_URL=https://***@127.0.0.1:9/shop.git", "has credentials in it", "deploy key")
        log = Path(project.path) / ".git" / "composeship" / "releases.log"
        assert not log.exists() or secret not in log.read_text()
        assert not (Path(project.path) / ".git").exists(), "nothing reached the host"
    finally:
        destroy_remote_project(project)


def test_a_dry_run_runs_no_hook(remote_project):
    project = remote_project
    hooks = project.config_dir / "hooks"
    hooks.mkdir()
    ran = project.config_dir / "ran"
    for name in ("pre-deploy", "post-migrate", "post-deploy", "on-failure"):
        (hooks / name).write_text(f"#!/bin/sh\necho {name} >> {ran}\n")
        (hooks / name).chmod(0o755)
    result = project.fab("deploy", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not ran.exists(), ran.read_text()
    printed = [line for line in result.stdout.splitlines() if str(hooks) in line and not line.startswith("#")]
    assert [line.split()[-1] for line in printed] == [str(hooks / "pre-deploy"), str(hooks / "post-migrate"), str(hooks / "post-deploy")]
    assert all("DEPLOY_HOOK=" in line for line in printed)


def test_sigkill_during_a_slow_migration_is_detected_and_recovered(remote_project):
    project = remote_project
    deploy_ok(project)
    old = project.head()
    revision = project.origin.commit("slow migration; 1.2.0", {"VERSION": "1.2.0\n", "notes/migrations/0002_slow.py": SLOWER_MIGRATION_0002})
    run = start_fab(project, "deploy", "--ref", revision)
    wait_for_line(run, "==> migrate")
    time.sleep(3)
    run.kill()
    run.wait(timeout=30)
    assert project.locked()

    refused = project.fab("deploy", "--ref", revision)
    line = assert_one_error_line(refused, "sandbox is locked by", "deploy of", alone=False)
    assert "unlock --force" in line

    broken = project.fab("unlock", "--force")
    assert broken.returncode == 0, broken.stdout + broken.stderr
    assert "broke the lock of" in broken.stdout and "stopped at step 'migrate'" in broken.stdout
    if "migrate container" in broken.stdout:
        # The migration goes on in its one-off container: nothing may migrate meanwhile.
        waiting = project.fab("deploy", "--ref", revision)
        line = assert_one_error_line(waiting, "is still running", "nothing migrates until it has ended", alone=False)
        assert not project.locked()
        assert project.page("/version/") == (200, "1.0.0")
        container = re.search(r"`docker wait (\S+)`", line)[1]
        project.docker("wait", container, timeout=120)
    recovered = deploy_ok(project, "--ref", revision)
    assert "never cleaned up" in recovered.stdout and "==> recover [sandbox]" in recovered.stdout
    assert project.page("/version/") == (200, "1.2.0")
    assert serving_revision(project) == revision
    killed, ok = project.releases()[-2:]
    assert (killed["result"], killed["step"], killed["revision"], killed["previous"]) == ("interrupted", "migrate", revision, old)
    assert (ok["result"], ok["revision"]) == ("ok", revision)
    assert not project.locked()
    record_row(
        "deploy",
        "migrate: during a 20 s migration",
        "SIGKILL",
        "old release serves, lock held, journal, its migrate container still running",
        "deploy of the same ref: refused: locked by the dead run; `unlock --force`; refused until its migrate container ended; recovered",
    )


def test_a_lock_folder_without_owner_info_can_be_seen_and_broken(remote_project):
    project = remote_project
    deploy_ok(project)
    lock = Path(project.path) / ".git" / "composeship" / "lock"
    assert as_user(project.host["user"], "mkdir", str(lock)).returncode == 0
    status = project.fab("lock-status")
    assert "died while taking it" in status.stdout
    refused = project.fab("deploy")
    assert_one_error_line(refused, "died while taking it", "unlock --force", alone=False)
    assert project.fab("unlock", "--force").returncode == 0
    assert not project.locked()
    deploy_ok(project)

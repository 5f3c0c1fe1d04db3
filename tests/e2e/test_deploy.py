"""`fab -H sandbox deploy` and `migrate-only` against a real sshd, Docker Engine,
Compose, Postgres, Django and git. Every test asserts what an operator would check:
the page served, the django_migrations table, the checkout, the lock, the log."""

import errno
import os
import re
import subprocess
import threading
import time
from pathlib import Path

from .fault_rows import record_row
from .helpers import BIN, REPO, assert_one_error_line
from .remote import BROKEN_MIGRATION_0002, MIGRATION_0002

MODEL_WITH_BODY = """from django.db import models


class Note(models.Model):
    title = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
    body = models.TextField(blank=True, null=True)

    def __str__(self):
        return self.title
"""


def deploy_ok(project, *args):
    result = project.fab("deploy", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_first_deploy_then_a_release_with_a_migration(remote_project):
    project = remote_project
    first = deploy_ok(project)
    assert project.page("/version/") == (200, "1.0.0")
    assert "notes.0001_initial" in project.stack.applied_migrations()
    assert project.head() == project.origin.revisions[-1]
    assert not project.locked()
    for step in ("preflight", "clone", "lock", "fetch", "checkout", "build", "migrate", "restart django", "restart celeryworker", "health", "record", "unlock"):
        assert f"==> {step} [sandbox]" in first.stdout, step
    # Nothing served: no old code to check the migrations against, no one-off container.
    assert "--- plan [sandbox] skipped: nothing serves yet" in first.stdout and "==> plan [sandbox]" not in first.stdout
    assert "notes.0001_initial" in project.releases()[0]["migrations"]
    assert re.search(r"deploy of main to sandbox done in [\d.]+s", first.stdout)

    revision = project.origin.commit(
        "notes get a body; 1.1.0",
        {"VERSION": "1.1.0\n", "notes/models.py": MODEL_WITH_BODY, "notes/migrations/0002_note_body.py": MIGRATION_0002},
    )
    second = deploy_ok(project)
    assert project.page("/version/") == (200, "1.1.0")
    assert "notes.0002_note_body" in project.stack.applied_migrations()
    assert project.stack.sql("select column_name from information_schema.columns where table_name = 'notes_note' and column_name = 'body'") == ["body"]
    assert project.head() == revision
    assert "==> plan [sandbox]" in second.stdout and "==> check [sandbox]" in second.stdout
    assert "1 new migration file(s)" in second.stdout and "notes.0002_note_body" in second.stdout

    first_entry, second_entry = project.releases()
    assert first_entry["result"] == second_entry["result"] == "ok"
    assert second_entry["previous"] == first_entry["revision"] and second_entry["revision"] == revision
    assert second_entry["migrations"] == ["notes.0002_note_body"]
    # DEPLOY_BACKUP=auto with a pending migration: a real dump exists.
    assert second_entry["backup"].startswith("backup_") and second_entry["backup"].endswith(".sql.gz")
    assert second_entry["backup"] in project.stack.compose("exec", "-T", "postgres", "backups").stdout
    # Both releases' images stay for a rollback.
    for rev in project.origin.revisions:
        assert project.stack.compose("images").returncode == 0
        assert _image_exists(f"{project.image('django')}:{rev[:12]}")


def _image_exists(name):
    import subprocess

    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def test_failing_migration_keeps_the_old_release_serving(remote_project):
    project = remote_project
    deploy_ok(project)
    old = project.head()

    answers, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            try:
                answers.append(project.page("/version/"))
            except OSError as error:
                answers.append((0, str(error)))
            time.sleep(0.2)

    project.origin.commit("broken migration; 2.0.0", {"VERSION": "2.0.0\n", "notes/migrations/0002_broken.py": BROKEN_MIGRATION_0002})
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = project.fab("deploy")
    finally:
        stop.set()
        watcher.join()

    line = assert_one_error_line(result, "migrate --noinput", "failed on sandbox", alone=False)
    assert "old release keeps serving" in line
    assert "table_that_does_not_exist" in result.stdout + result.stderr
    assert answers and set(answers) == {(200, "1.0.0")}
    assert project.page("/version/") == (200, "1.0.0")
    assert project.head() == old
    assert not project.locked()
    assert "notes.0002_broken" not in project.stack.applied_migrations()
    assert project.releases()[-1]["result"] == "failed"
    # The image tag is back on the old release, so a restart serves the old code.
    project.stack.compose("up", "-d", "--force-recreate", "--wait", "django")
    assert project.page("/version/") == (200, "1.0.0")


def test_failing_health_check_rolls_back(sandbox_host, tmp_path):
    from .remote import destroy_remote_project, make_remote_project

    project = make_remote_project(sandbox_host, tmp_path, healthcheck_path="/version/", extra_config="DEPLOY_HEALTHCHECK_TIMEOUT=8\n")
    try:
        deploy_ok(project)
        old = project.head()
        project.origin.commit("lose the VERSION file", {"VERSION": None})
        result = project.fab("deploy")
        assert_one_error_line(result, "did not answer 2xx", "rolled back to the previous release", old[:12], alone=False)
        assert project.page("/version/") == (200, "1.0.0")
        assert project.head() == old
        assert not project.locked()
        assert project.releases()[-1]["result"] == "rolled back"
    finally:
        destroy_remote_project(project)


def test_a_rollback_that_does_not_answer_either_says_the_host_needs_attention(remote_project):
    project = remote_project
    deploy_ok(project)
    project.origin.commit("1.1.0", {"VERSION": "1.1.0\n"})
    nowhere = f"http://127.0.0.1:{project.port}/no-such-page/"
    result = project.fab("deploy", DEPLOY_HEALTHCHECK_URL=nowhere, DEPLOY_HEALTHCHECK_TIMEOUT="3")
    line = assert_one_error_line(result, "did not answer 2xx", "the rollback to", "failed too", "NEEDS ATTENTION", alone=False)
    assert "rolled back to the previous release" not in line
    last = project.releases()[-1]
    assert last["result"] == "needs attention" and "failed too" in last["error"]
    assert not project.locked()


def test_a_locked_host_a_full_disk_at_the_lock_and_a_concurrent_deploy_are_refused(remote_project):
    project = remote_project
    deploy_ok(project)
    project.origin.commit("1.1.0", {"VERSION": "1.1.0\n"})
    locked = project.fab("lock", "--message", "database maintenance")
    assert locked.returncode == 0, locked.stderr
    status = project.fab("lock-status")
    assert "locked by" in status.stdout and "database maintenance" in status.stdout

    refused = project.fab("deploy")
    assert_one_error_line(refused, "sandbox is locked by", "manual", "database maintenance", "unlock --force", alone=False)
    assert project.head() == project.origin.revisions[0]
    assert project.page("/version/") == (200, "1.0.0")

    unlocked = project.fab("unlock")
    assert unlocked.returncode == 0 and "unlocked" in unlocked.stdout
    assert not project.locked()
    assert "not locked" in project.fab("lock-status").stdout

    # A full disk where the lock is written: a 64 KiB tmpfs over the state folder (its
    # files copied in), then filled. DEPLOY_PATH's own disk has room, so preflight
    # passes and the lock itself meets ENOSPC: the deploy says so, leaves no lock that
    # would read as a dead run's, and changes nothing.
    state = Path(project.path) / ".git" / "composeship"
    saved = {path.name: path.read_bytes() for path in state.iterdir() if path.is_file()}
    owner = state.stat()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=64k,uid={owner.st_uid},gid={owner.st_gid},mode=0755", "tmpfs", str(state)], check=True)
    try:
        for name, data in saved.items():
            (state / name).write_bytes(data)
            os.chown(state / name, owner.st_uid, owner.st_gid)
        filler = state / "filler"
        with filler.open("wb", buffering=0) as out:
            try:
                while True:
                    out.write(b"x" * 4096)
            except OSError as full:
                assert full.errno == errno.ENOSPC
        full = project.fab("deploy")
        line = assert_one_error_line(full, "could not take the lock on sandbox: writing it in", "failed", "check the free space there (`df -h", alone=False)
        assert "nothing was changed and no lock is left" in line
        assert "is locked by" not in line, "a full disk is not a dead run's lock"
        assert not (state / "lock").exists()
        assert project.head() == project.origin.revisions[0]
        assert project.page("/version/") == (200, "1.0.0")

        filler.unlink()
        deploy_ok(project)
        assert project.page("/version/") == (200, "1.1.0")
        record_row(
            "deploy", "lock: writing it", "a full disk where the lock is written", "nothing changed, no lock left; `could not take the lock … df -h`", "the same deploy once there is room: recovered"
        )
    finally:
        subprocess.run(["umount", str(state)], check=True)

    # Two deploys at once: one takes the lock, the other is refused by it.
    project.origin.commit("1.2.0", {"VERSION": "1.2.0\n"})
    argv = [str(BIN / "fab"), "-S", project.host["ssh_config"], "-H", project.alias, "deploy"]
    runs = [subprocess.Popen(argv, cwd=REPO, env=project.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL) for _ in range(2)]
    outcomes = [(run.wait(timeout=900), run.stdout.read(), run.stderr.read()) for run in runs]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes[0] == 0 and codes[1] != 0, outcomes
    refused = next(err for code, _, err in outcomes if code)
    assert "is locked by" in refused
    assert project.page("/version/") == (200, "1.2.0")
    assert not project.locked()


def test_migrate_only(remote_project):
    project = remote_project
    deploy_ok(project)
    result = project.fab("migrate-only")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 pending" in result.stdout and "image matches the checkout" in result.stdout
    assert project.releases()[-1]["kind"] == "migrate-only"

    # The server's checkout moves ahead of its image (a hand-made pull): refused.
    revision = project.origin.commit("body", {"notes/models.py": MODEL_WITH_BODY, "notes/migrations/0002_note_body.py": MIGRATION_0002})
    from .remote import as_user

    user = project.host["user"]
    assert as_user(user, "git", "-C", project.path, "fetch", "-q", "origin").returncode == 0
    assert as_user(user, "git", "-C", project.path, "checkout", "-q", "--detach", revision).returncode == 0
    stale = project.fab("migrate-only")
    assert_one_error_line(stale, "lacks migrations that the checkout has", "notes/migrations/0002_note_body.py", "deploy", "--force", alone=False)
    assert "notes.0002_note_body" not in project.stack.applied_migrations()
    assert not project.locked()


SLOW_MIGRATION_0002 = """from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("notes", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL("SELECT pg_sleep(6)", migrations.RunSQL.noop),
    ]
"""


def test_ctrl_c_lets_the_migration_finish_then_undoes_and_unlocks(remote_project):
    import signal
    import subprocess

    project = remote_project
    deploy_ok(project)
    old = project.head()
    project.origin.commit("slow migration; 1.2.0", {"VERSION": "1.2.0\n", "notes/migrations/0002_slow.py": SLOW_MIGRATION_0002})
    argv = [str(BIN / "fab"), "-S", project.host["ssh_config"], "-H", project.alias, "deploy"]
    run = subprocess.Popen(argv, cwd=REPO, env=project.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    seen = []
    for line in run.stdout:
        seen.append(line)
        if line.startswith("==> migrate"):
            time.sleep(2)
            run.send_signal(signal.SIGINT)
            break
    rest, err = run.communicate(timeout=300)
    output = "".join(seen) + rest
    assert run.returncode == 130, output + err
    assert "letting `" in err and "finish on sandbox" in err
    assert err.strip().splitlines()[-1].startswith("error: interrupted")
    # The migration ran to its end rather than being cut off in the middle of the server...
    assert "notes.0002_slow" in project.stack.applied_migrations()
    # ...then nothing was restarted, the code went back, and the lock is gone.
    assert project.page("/version/") == (200, "1.0.0")
    assert project.head() == old
    assert not project.locked()
    last = project.releases()[-1]
    assert last["result"] == "interrupted" and last["migrations"] == ["notes.0002_slow"]

"""Operating a deployed site on a real sandbox host: rollback (with and without
migrations), releases, status, prune, manage, logs, backups, hooks."""

import json
import subprocess

from .fault_rows import record_row
from .helpers import assert_one_error_line
from .remote import MIGRATION_0002, destroy_remote_project, make_remote_project
from .test_deploy import MODEL_WITH_BODY, deploy_ok

IRREVERSIBLE_0002 = """from django.db import migrations


def forwards(apps, schema_editor):
    pass


class Migration(migrations.Migration):

    dependencies = [
        ("notes", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(forwards),
    ]
"""


def body_column(project):
    return project.stack.sql("select column_name from information_schema.columns where table_name = 'notes_note' and column_name = 'body'")


def test_rollback_reverses_the_migrations_of_the_undone_release(remote_project):
    project = remote_project
    deploy_ok(project)
    v1 = project.head()
    project.origin.commit("body; 1.1.0", {"VERSION": "1.1.0\n", "notes/models.py": MODEL_WITH_BODY, "notes/migrations/0002_note_body.py": MIGRATION_0002})
    deploy_ok(project)
    assert body_column(project) == ["body"]

    listed = project.fab("rollback", "--list")
    assert listed.returncode == 0 and v1[:12] in listed.stdout

    rolled = project.fab("rollback", "--migrations")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert project.page("/version/") == (200, "1.0.0")
    assert project.head() == v1
    assert "notes.0002_note_body" not in project.stack.applied_migrations()
    assert "notes.0001_initial" in project.stack.applied_migrations()
    assert body_column(project) == []
    last = project.releases()[-1]
    assert (last["kind"], last["result"], last["revision"], last["unapplied"]) == ("rollback", "ok", v1, ["notes.0002_note_body"])
    assert not project.locked()


def test_rollback_refuses_to_reverse_an_irreversible_migration(remote_project):
    project = remote_project
    deploy_ok(project)
    v1 = project.head()
    project.origin.commit("data migration; 1.1.0", {"VERSION": "1.1.0\n", "notes/migrations/0002_data.py": IRREVERSIBLE_0002})
    deploy_ok(project)
    v2 = project.head()

    refused = project.fab("rollback", "--migrations")
    assert_one_error_line(refused, "cannot reverse", "notes.0002_data (RunPython)", "without --migrations", alone=False)
    assert project.page("/version/") == (200, "1.1.0")
    assert project.head() == v2
    assert "notes.0002_data" in project.stack.applied_migrations()
    assert not project.locked()

    code_only = project.fab("rollback")
    assert code_only.returncode == 0, code_only.stdout + code_only.stderr
    assert "left applied: notes.0002_data" in code_only.stdout
    assert project.page("/version/") == (200, "1.0.0")
    assert project.head() == v1


def test_code_only_release_rollback_releases_status_manage_backups_and_logs(remote_project):
    project = remote_project
    deploy_ok(project)
    v1 = project.head()
    project.origin.commit("1.1.0", {"VERSION": "1.1.0\n"})
    deploy_ok(project)
    v2 = project.head()

    rolled = project.fab("rollback")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert project.page("/version/") == (200, "1.0.0")
    # No migration file differs: git shows it, no one-off container is started for it.
    assert f"(no migration file was added after {v1[:12]}: nothing to reverse)" in rolled.stdout

    table = project.fab("releases")
    assert table.returncode == 0
    rows = [line for line in table.stdout.splitlines() if line.strip().startswith("20")]
    assert [row.split()[2:4] for row in rows] == [["deploy", v1[:12]], ["deploy", v2[:12]], ["rollback", v1[:12]]]
    as_json = json.loads(project.fab("releases", "--json").stdout)
    assert [entry["revision"] for entry in as_json] == [v1, v2, v1]

    status = json.loads(project.fab("status", "--json").stdout)
    [host] = status
    assert host["host"] == "sandbox" and host["revision"] == v1 == project.head()
    assert host["lock"] is None and host["pending_migrations"] == []
    services = {s["service"]: s for s in host["services"]}
    # Docker's own verdict: "starting" until its first check, 10 s after the rollback's container started.
    assert services["django"]["state"] == "running" and services["django"]["health"] in ("starting", "healthy")
    assert f"{project.image('django')}:{v2[:12]}" in {image["name"] for image in host["images"]}
    text = project.fab("status")
    assert f"serving   {v1[:12]}" in text.stdout and "django" in text.stdout

    # The other tasks against the same host: manage, backup and backups, logs.
    # Fabric would run the words after -- as a shell command too; here they are manage.py's.
    shown = project.fab("manage", "--", "showmigrations", "notes")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "[X] 0001_initial" in shown.stdout

    made = project.fab("backup")
    assert made.returncode == 0, made.stdout + made.stderr
    listed = project.fab("backups")
    newest = project.stack.compose("exec", "-T", "postgres", "sh", "-c", "ls -t /backups | head -1").stdout.strip()
    assert newest.endswith(".sql.gz") and newest in listed.stdout and newest in made.stdout

    logs = project.fab("logs", "--service", "django", "--tail", "50")
    assert logs.returncode == 0 and "GET /health/" in logs.stdout


def test_prune_keeps_the_last_releases_and_rollback_to_the_oldest_kept(sandbox_host, tmp_path):
    project = make_remote_project(sandbox_host, tmp_path, extra_config="DEPLOY_KEEP_RELEASES=2\n")
    try:
        deploy_ok(project)
        for version in ("1.1.0", "1.2.0"):
            project.origin.commit(version, {"VERSION": f"{version}\n"})
            deploy_ok(project)
        v1, v2, v3 = project.origin.revisions

        def tagged(revision):
            return subprocess.run(["docker", "image", "inspect", f"{project.image('django')}:{revision[:12]}"], capture_output=True).returncode == 0

        assert (tagged(v1), tagged(v2), tagged(v3)) == (False, True, True)
        logged = project.releases()
        unknown = project.fab("rollback", "--to", "deadbeef")
        assert_one_error_line(unknown, "'deadbeef' is not one release of sandbox", "rollback --list")
        assert project.releases() == logged, "a --to that names no release is bad input, not a release"
        assert not project.locked()
        gone = project.fab("rollback", "--to", v1[:10])
        assert_one_error_line(gone, "images of", "no longer on sandbox", "deploy it again")
        assert project.page("/version/") == (200, "1.2.0")

        back = project.fab("rollback", "--to", v2[:10])
        assert back.returncode == 0, back.stdout + back.stderr
        assert project.page("/version/") == (200, "1.1.0")
    finally:
        destroy_remote_project(project)


def test_hooks(remote_project):
    project = remote_project
    hooks = project.config_dir / "hooks"
    hooks.mkdir()
    record = project.config_dir / "post-deploy.env"
    (hooks / "post-deploy").write_text(f"#!/bin/sh\nenv | grep '^DEPLOY_' | sort > {record}\n")
    (hooks / "post-deploy").chmod(0o755)
    deploy_ok(project)
    seen = dict(line.split("=", 1) for line in record.read_text().splitlines())
    assert seen["DEPLOY_HOOK"] == "post-deploy" and seen["DEPLOY_HOSTS"] == "sandbox"
    assert seen["DEPLOY_REVISION"] == project.head() and seen["DEPLOY_RESULT"] == "ok"

    (hooks / "pre-deploy").write_text("#!/bin/sh\necho 'release freeze until friday' >&2\nexit 3\n")
    (hooks / "pre-deploy").chmod(0o755)
    project.origin.commit("1.1.0", {"VERSION": "1.1.0\n"})
    refused = project.fab("deploy")
    assert_one_error_line(refused, "pre-deploy hook", "exit code 3", "nothing was changed", alone=False)
    assert "release freeze" in refused.stderr
    assert project.page("/version/") == (200, "1.0.0")
    assert project.head() == project.origin.revisions[0]
    assert len(project.releases()) == 1

    # A hook that never ends is killed at DEPLOY_HOOK_TIMEOUT: the deploy ends, nothing changed.
    # Its child (not exec'd) holds the hook's output open: it is ended with the hook.
    (hooks / "pre-deploy").write_text("#!/bin/sh\necho waiting for a ticket system that does not answer\nsleep 600\n")
    hung = project.fab("deploy", DEPLOY_HOOK_TIMEOUT="2", timeout=120)  # not the child's 600 s
    assert_one_error_line(hung, "pre-deploy hook", "still running after 2s (DEPLOY_HOOK_TIMEOUT) and was killed", "nothing was changed", alone=False)
    assert "waiting for a ticket system" in hung.stdout
    assert subprocess.run(["pgrep", "-f", "^sleep 600$"], capture_output=True).returncode == 1, "the hook still runs"
    assert project.page("/version/") == (200, "1.0.0")
    assert project.head() == project.origin.revisions[0] and not project.locked()
    assert len(project.releases()) == 1
    record_row(
        "deploy",
        "pre-deploy hook: `sleep 600` in it",
        "a hook that never ends",
        "killed at DEPLOY_HOOK_TIMEOUT (2 s) with its children; nothing changed on the host",
        "refused with a clear message, nothing changed",
    )


def test_rollback_never_reverses_migrations_without_a_backup(remote_project):
    project = remote_project
    deploy_ok(project)
    v1 = project.head()
    project.origin.commit("body; 1.1.0", {"VERSION": "1.1.0\n", "notes/models.py": MODEL_WITH_BODY, "notes/migrations/0002_note_body.py": MIGRATION_0002})
    deploy_ok(project)
    # The postgres service loses its backup command: no backup can succeed.
    project.stack.compose("exec", "-T", "postgres", "chmod", "-x", "/usr/local/bin/backup")
    refused = project.fab("rollback", "--migrations")
    assert_one_error_line(refused, "cannot back up the database", "never reverses migrations without a backup", "--no-backup", alone=False)
    assert body_column(project) == ["body"]
    assert project.page("/version/") == (200, "1.1.0")
    assert project.releases()[-1]["result"] == "failed"

    forced = project.fab("rollback", "--migrations", "--no-backup")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "--- backup [sandbox] skipped: --no-backup" in forced.stdout
    assert body_column(project) == []
    assert project.page("/version/") == (200, "1.0.0") and project.head() == v1
    last = project.releases()[-1]
    assert (last["result"], last["unapplied"], last["backup"]) == ("ok", ["notes.0002_note_body"], None)

"""Migrations while the old code serves, on the real test bed: a migration stuck
behind another session's lock fails after DEPLOY_MIGRATION_LOCK_TIMEOUT, and the site
answers throughout; a column rename is refused while the old code reads the column by
its old name, before the database is touched; a column drop marked post-deploy runs
after the rollout with no request failing."""

import subprocess
import threading
import time

from .helpers import assert_one_error_line
from .load import Load
from .remote import MIGRATION_0002
from .test_deploy import MODEL_WITH_BODY, deploy_ok

PSQL = 'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"'
# An open transaction that has read the table: SELECTs go on, but ALTER TABLE needs
# an ACCESS EXCLUSIVE lock and waits for the transaction to end.
READER = "BEGIN; SELECT count(*) FROM notes_note; SELECT pg_sleep(300);"


class Watcher:
    """Asks for a page every 200 ms until stopped; every answer is kept."""

    def __init__(self, project, path):
        self.project, self.path, self.answers = project, path, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch)

    def watch(self):
        while not self.stop.is_set():
            try:
                self.answers.append(self.project.page(self.path)[0])
            except OSError as error:
                self.answers.append(str(error))
            time.sleep(0.2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def sessions(stack, like):
    return stack.sql(f"select pid from pg_stat_activity where query like '{like}%' and pid <> pg_backend_pid()")


def test_a_migration_behind_another_sessions_lock_fails_after_the_lock_timeout_and_the_site_serves(remote_project):
    project = remote_project
    deploy_ok(project)
    stack = project.stack
    stack.sql("insert into notes_note (title, created) values ('first', now())")
    project.origin.commit("notes get a body; 1.1.0", {"VERSION": "1.1.0\n", "notes/models.py": MODEL_WITH_BODY, "notes/migrations/0002_note_body.py": MIGRATION_0002})

    blocker = subprocess.Popen(
        ["docker", "compose", "-p", stack.name, "-f", stack.compose_file, "exec", "-T", "postgres", "sh", "-c", PSQL, READER],
        cwd=stack.folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not sessions(stack, "BEGIN; SELECT count"):
            assert time.monotonic() < deadline and blocker.poll() is None, blocker.stderr.read() if blocker.poll() is not None else "no blocking session"
            time.sleep(0.2)
        with Watcher(project, "/version/") as version, Watcher(project, "/") as notes:
            started = time.monotonic()
            result = project.fab("deploy", DEPLOY_MIGRATION_LOCK_TIMEOUT="2s")
            took = time.monotonic() - started
        # The lock timeout ended the migration, not the end of the other session.
        assert blocker.poll() is None, "the blocking session ended before the deploy did"
        assert took < 200, took
        line = assert_one_error_line(result, "notes.0002_note_body", "waited more than 2s for a lock", alone=False)
        assert "old release keeps serving" in line and "pg_stat_activity" in line and "DEPLOY_MIGRATION_LOCK_TIMEOUT" in line
        assert "lock timeout" in result.stdout + result.stderr
        # The migration's session is gone, not queued behind the lock with the site behind it.
        assert sessions(stack, "ALTER TABLE") == []
        assert "notes.0002_note_body" not in stack.applied_migrations()
        assert stack.sql("select count(*) from information_schema.columns where table_name = 'notes_note' and column_name = 'body'") == ["0"]
        assert version.answers and set(version.answers) == {200}, version.answers
        assert notes.answers and set(notes.answers) == {200}, notes.answers
        assert project.page("/version/") == (200, "1.0.0")
        assert not project.locked()
        entry = project.releases()[-1]
        assert (entry["result"], entry["step"]) == ("failed", "migrate")
    finally:
        for pid in sessions(stack, "BEGIN; SELECT count"):
            stack.sql(f"select pg_terminate_backend({pid})")
        blocker.wait(timeout=60)
    # The lock gone, the same release deploys.
    assert stack.sql("select count(*) from pg_locks l join pg_class c on l.relation = c.oid where c.relname = 'notes_note'") == ["0"]
    deploy_ok(project)
    assert project.page("/version/") == (200, "1.1.0")
    assert "notes.0002_note_body" in stack.applied_migrations()


DROP_TITLE_0002 = """from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("notes", "0001_initial"),
    ]

    operations = [
        migrations.RemoveField(model_name="note", name="title"),
    ]
"""

RENAME_TITLE_0002 = """from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("notes", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(model_name="note", old_name="title", new_name="heading"),
    ]
"""

MODEL_WITH_HEADING = """from django.db import models


class Note(models.Model):
    heading = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
"""

MODEL_WITHOUT_TITLE = """from django.db import models


class Note(models.Model):
    created = models.DateTimeField(auto_now_add=True)
"""


def test_a_release_renaming_a_column_the_running_code_reads_is_refused_before_migrating(remote_project):
    from .test_fast_and_safe import containers_created

    project = remote_project
    deploy_ok(project)
    stack = project.stack
    views = (project.origin.work / "notes" / "views.py").read_text()
    counting = 'HttpResponse(f"notes: {Note.objects.count()}", content_type=TEXT)'
    assert counting in views
    reading = views.replace(counting, 'HttpResponse("titles: " + ", ".join(Note.objects.values_list("title", flat=True)), content_type=TEXT)')
    project.origin.commit("the index lists the titles; 1.1.0", {"VERSION": "1.1.0\n", "notes/views.py": reading})
    deploy_ok(project)
    stack.sql("insert into notes_note (title, created) values ('first', now())")
    assert project.page("/") == (200, "titles: first")
    project.origin.commit(
        "titles become headings; 2.0.0",
        {
            "VERSION": "2.0.0\n",
            "notes/views.py": views,
            "notes/models.py": MODEL_WITH_HEADING,
            "notes/migrations/0002_rename_title.py": RENAME_TITLE_0002,
        },
    )
    applied = stack.applied_migrations()
    entries = len(project.releases())

    with containers_created(project) as created, Watcher(project, "/") as index:
        refused = project.fab("deploy")
    one_offs = [name for name in created if "-run-" in name]
    line = assert_one_error_line(refused, "notes.0002_rename_title: RenameField (Rename field title on note to heading) is unsafe while the old code serves", alone=False)
    assert "the running release reads and writes the column by its old name" in line
    assert "nothing was migrated or restarted: the old release keeps serving" in line
    assert "db_column= the old name" in line and "--allow-unsafe-migrations" in line
    assert len(one_offs) == 1, one_offs  # the check; no migrate container
    assert index.answers and set(index.answers) == {200}, index.answers
    assert project.page("/") == (200, "titles: first")
    assert project.page("/version/") == (200, "1.1.0")
    assert stack.applied_migrations() == applied
    assert stack.sql("select title from notes_note") == ["first"]
    assert not project.locked()
    entry = project.releases()[-1]
    assert len(project.releases()) == entries + 1
    assert (entry["result"], entry["step"], entry.get("backup")) == ("failed", "check", None)

    plan = project.fab("deploy", "--plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "    - Rename field title on note to heading [unsafe while the old code serves: the running release reads and writes the column by its old name]" in plan.stdout
    assert "deploy would refuse: notes.0002_rename_title: RenameField" in plan.stdout
    assert stack.applied_migrations() == applied

    # The title goes instead, marked to run once no old code reads the column: migrated
    # after the rollout, under load on the page that reads it.
    project.origin.commit(
        "titles go once 2.0.1 serves; 2.0.1",
        {
            "VERSION": "2.0.1\n",
            "notes/models.py": MODEL_WITHOUT_TITLE,
            "notes/migrations/0002_rename_title.py": None,
            "notes/migrations/0002_remove_note_title.py": DROP_TITLE_0002 + POST_DEPLOY,
        },
    )
    plan = project.fab("deploy", "--plan")
    assert '    - Remove field title from note [after the deploy: composeship = "post-deploy"]' in plan.stdout, plan.stdout
    assert "deploy would refuse" not in plan.stdout
    with Load(f"{project.url}/", clients=4) as load:
        released = deploy_ok(project)
    assert load.failed == [], load.summary()
    assert {"titles: first", "notes: 1"} <= set(load.versions()), load.summary()
    assert load.versions()[-1] == "notes: 1"
    assert project.page("/version/") == (200, "2.0.1")
    assert stack.sql("select count(*) from information_schema.columns where table_name = 'notes_note' and column_name = 'title'") == ["0"]
    out = released.stdout
    assert "(1 migration(s) after the rollout)" in out
    assert "--- migrate [sandbox] skipped: every pending migration runs after the rollout: notes.0002_remove_note_title" in out
    assert out.index("==> health [sandbox]") < out.index("==> post-migrate [sandbox]") < out.index("==> record [sandbox]")
    entry = project.releases()[-1]
    assert (entry["result"], entry["migrations"], entry["post_deploy"]) == ("ok", ["notes.0002_remove_note_title"], ["notes.0002_remove_note_title"])
    assert entry["backup"]  # the backup before the deploy covers the drop

    # A post-deploy migration that fails leaves the new release serving, and says so;
    # the next deploy applies it. The migration before it runs before the rollout.
    project.origin.commit("3.0.0", {"VERSION": "3.0.0\n", "notes/migrations/0003_note_summary.py": ADD_SUMMARY_0003, "notes/migrations/0004_after.py": after_migration("SELECT 1/0")})
    failing = project.fab("deploy")
    line = assert_one_error_line(failing, "the migrations to run after the deploy failed on sandbox", "serves on sandbox", "not applied: notes.0004_after", alone=False)
    assert "the next deploy applies what is left" in line
    assert "python manage.py migrate notes 0003_note_summary --noinput" in failing.stdout
    assert project.page("/version/") == (200, "3.0.0")
    assert "notes.0003_note_summary" in stack.applied_migrations() and "notes.0004_after" not in stack.applied_migrations()
    entry = project.releases()[-1]
    assert (entry["result"], entry["revision"], entry["migrations"], entry["post_deploy"]) == (
        "serving; post-deploy migrations failed",
        project.origin.revisions[-1],
        ["notes.0003_note_summary"],
        [],
    )
    assert not project.locked()
    project.origin.commit("3.0.1", {"VERSION": "3.0.1\n", "notes/migrations/0004_after.py": after_migration("SELECT 1")})
    fixed = deploy_ok(project)
    assert "--- migrate [sandbox] skipped: every pending migration runs after the rollout: notes.0004_after" in fixed.stdout
    assert "notes.0004_after" in stack.applied_migrations()
    assert project.releases()[-1]["post_deploy"] == ["notes.0004_after"]

    # Back to the release that listed the titles, past the drop: said before it happens.
    back = project.fab("rollback", "--to", project.origin.revisions[1][:12])
    assert back.returncode == 0, back.stdout + back.stderr
    assert "warning: notes.0002_remove_note_title, notes.0004_after ran after a deploy (a column or table dropped once no old code read it: marked post-deploy" in back.stdout, back.stdout
    assert "pass --migrations to reverse them first, or deploy a fix forward" in back.stdout


POST_DEPLOY = """
    composeship = "post-deploy"
"""


def after_migration(sql):
    return f"""from django.db import migrations


class Migration(migrations.Migration):
    composeship = "post-deploy"

    dependencies = [
        ("notes", "0003_note_summary"),
    ]

    operations = [
        migrations.RunSQL({sql!r}, migrations.RunSQL.noop),
    ]
"""


ADD_SUMMARY_0003 = """from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("notes", "0002_remove_note_title"),
    ]

    operations = [
        migrations.AddField(model_name="note", name="summary", field=models.TextField(null=True)),
    ]
"""

"""`inv local.*` against a copy of the example project on the real engine: the
migrations land in the real Postgres, the files in the project folder."""

import fcntl
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .helpers import BIN, REPO, add_field, assert_one_error_line, clean_environ, http_get, tool


def env_for(stack, **extra):
    return clean_environ(DEPLOY_PROJECT_DIR=str(stack.folder), DEPLOY_COMPOSE_PROJECT=stack.name, **extra)


def test_migrate_applies_the_projects_migrations(local_stack):
    result = tool("inv", "local.migrate", env=env_for(local_stack))
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"notes.0001_initial", "auth.0001_initial", "contenttypes.0001_initial"} <= local_stack.applied_migrations()
    assert "==> migrate [local]" in result.stdout
    assert "local.migrate done in" in result.stdout


def test_model_change_makemigrations_then_migrate(local_stack):
    env = env_for(local_stack)
    add_field(local_stack.folder, 'body = models.TextField(blank=True, default="")')

    check = tool("inv", "local.makemigrations", "--check", env=env)
    assert_one_error_line(check, "inv local.makemigrations", alone=False)
    assert not (local_stack.folder / "notes/migrations/0002_note_body.py").exists()

    made = tool("inv", "local.makemigrations", "--app", "notes", env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    assert (local_stack.folder / "notes/migrations/0002_note_body.py").is_file()
    assert tool("inv", "local.makemigrations", "--check", env=env).returncode == 0

    migrated = tool("inv", "local.migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "notes.0002_note_body" in local_stack.applied_migrations()
    assert local_stack.sql("select column_name from information_schema.columns where table_name = 'notes_note' and column_name = 'body'") == ["body"]

    shown = tool("inv", "local.showmigrations", env=env)
    assert shown.returncode == 0 and "[X] 0002_note_body" in shown.stdout and "0 pending" in shown.stdout


def test_update_runs_the_whole_loop_and_restarts_django(local_stack):
    """The quickstart's loop: a model changed, `inv local.update`, then the check of what
    `fab deploy` will do with the new migration, which the local database has already."""
    from .remote import git

    env = env_for(local_stack)
    git("init", "-q", "-b", "main", cwd=local_stack.folder)
    git("add", "-A", cwd=local_stack.folder)
    git("commit", "-q", "-m", "the code the servers run", cwd=local_stack.folder)
    started = tool("inv", "local.up", env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    first_start = local_stack.started_at("django")

    add_field(local_stack.folder, "pinned = models.BooleanField(default=False)")
    updated = tool("inv", "local.update", env=env)
    assert updated.returncode == 0, updated.stdout + updated.stderr

    [migration] = [p.name for p in (local_stack.folder / "notes/migrations").glob("0002_*.py")]
    assert f"notes.{migration[:-3]}" in local_stack.applied_migrations()
    assert local_stack.started_at("django") != first_start
    for step in ("makemigrations", "migrate", "restart django"):
        assert f"==> {step} [local]" in updated.stdout
    assert "local.update done in" in updated.stdout and "3/3 steps ok" in updated.stdout

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, body = http_get(f"http://127.0.0.1:{local_stack.port}/")
            if status == 200:
                break
        except OSError:
            pass
        time.sleep(1)
    assert (status, body.strip()) == (200, "notes: 0")

    checked = tool("inv", "local.check-migrations", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "since [local] ok in" in checked.stdout and f"HEAD: 1 new migration file(s) (notes.{migration[:-3]})" in checked.stdout, checked.stdout
    assert f"since HEAD: 1 pending: notes.{migration[:-3]}; 1 default(s) kept in the database" in checked.stdout
    assert "    - Add field pinned to note [default kept in the database while the old code runs: " in checked.stdout
    assert "1 default(s) kept in the database" in checked.stdout


def test_dry_run_prints_the_command_and_changes_nothing(local_stack):
    result = tool("inv", "local.migrate", "--dry-run", env=env_for(local_stack))
    assert result.returncode == 0, result.stderr
    expected = f"cd {local_stack.folder} && docker compose -p {local_stack.name} -f docker-compose.local.yml run --rm django python manage.py migrate"
    assert expected in result.stdout.splitlines()
    assert local_stack.containers() == []


def test_dry_run_with_the_default_project_name_matches_the_hand_typed_command(local_stack):
    env = clean_environ(DEPLOY_PROJECT_DIR=str(local_stack.folder))
    result = tool("inv", "local.update", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"cd {local_stack.folder} && docker compose -f docker-compose.local.yml run --rm django python manage.py makemigrations" in lines
    assert f"cd {local_stack.folder} && docker compose -f docker-compose.local.yml run --rm django python manage.py migrate" in lines


def test_bad_input_gives_one_line_and_runs_nothing(local_stack, tmp_path):
    env = env_for(local_stack)
    unknown = tool("inv", "local.restart", "--service", "nope", env=env)
    assert_one_error_line(unknown, "service 'nope' is not in docker-compose.local.yml", "django", "postgres")

    missing = tool("inv", "local.migrate", env={**env, "DEPLOY_COMPOSE_FILE": "docker-compose.missing.yml"})
    assert_one_error_line(missing, "docker-compose.missing.yml does not exist", "DEPLOY_COMPOSE_FILE")

    bad_value = tool("inv", "local.migrate", env={**env, "DEPLOY_BACKUP": "sometimes"})
    assert_one_error_line(bad_value, "DEPLOY_BACKUP=sometimes", "auto, always, never")

    target_alone = tool("inv", "local.migrate", "--target", "zero", env=env)
    assert_one_error_line(target_alone, "--target needs --app")

    no_args = tool("inv", "local.manage", env=env)
    assert_one_error_line(no_args, "no manage.py command given")

    assert local_stack.containers() == []


def test_manage_runs_any_command(local_stack):
    result = tool("inv", "local.manage", "--", "showmigrations", "notes", env=env_for(local_stack))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ ] 0001_initial" in result.stdout


def test_check_migrations_refuses_a_rename_defers_a_drop_and_passes_it_marked_post_deploy(local_stack):
    from .test_migration_safety import DROP_TITLE_0002, POST_DEPLOY, RENAME_TITLE_0002

    env = env_for(local_stack)
    migrated = tool("inv", "local.migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    rename = local_stack.folder / "notes/migrations/0002_rename_title.py"
    rename.write_text(RENAME_TITLE_0002)

    refused = tool("inv", "local.check-migrations", env=env)
    line = assert_one_error_line(refused, "notes.0002_rename_title: RenameField (Rename field title on note to heading) is unsafe while the old code serves", alone=False)
    assert "db_column= the old name" in line and 'composeship = "post-deploy"' in line and "nothing was migrated" not in line
    assert "    - Rename field title on note to heading [unsafe while the old code serves:" in refused.stdout
    assert "what the local database lacks: 1 pending: notes.0002_rename_title" in refused.stdout, refused.stdout
    assert "is not in a git work tree: checking what the local database lacks" in refused.stdout

    rename.unlink()
    drop = local_stack.folder / "notes/migrations/0002_remove_note_title.py"
    drop.write_text(DROP_TITLE_0002)
    deferred = tool("inv", "local.check-migrations", env=env)
    assert deferred.returncode == 0, deferred.stdout + deferred.stderr
    assert "    - Remove field title from note [deferred until the new release serves: the running release still reads the column title of note" in deferred.stdout
    assert "made nullable first" in deferred.stdout
    assert "1 drop(s) deferred until the new release serves" in deferred.stdout

    drop.write_text(DROP_TITLE_0002 + POST_DEPLOY)
    passed = tool("inv", "local.check-migrations", env=env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert '    - Remove field title from note [after the deploy: composeship = "post-deploy"]' in passed.stdout
    assert "notes.0002_remove_note_title" not in local_stack.applied_migrations()
    assert local_stack.sql("select count(*) from information_schema.columns where table_name = 'notes_note' and column_name = 'title'") == ["1"]


RULES = Path(__file__).parent / "migration_rules"
UNSAFE, SLOW = "[unsafe while the old code serves: ", "[slow or locking on an existing table: "
KEPT = "[default kept in the database while the old code runs: "
# What the check prints of each rule, as the example's Django (3.2, Debian's) and
# PostgreSQL load them.
RULES_PLAN = {
    "0002_note_body": ["Add field body to note " + KEPT + "the running release's INSERTs leave the column out: the field's default stays in the database, set in the migration's own transaction]"],
    "0003_note_summary": ["Add field summary to note"],
    "0004_note_title_index": ["Create index note_title_idx on field(s) title of model note " + SLOW + "it builds the index without CONCURRENTLY: writes to the table wait until it is built]"],
    "0005_widen_title": ["Alter field title on note"],
    "0006_fill": ["Raw Python operation [runs code]"],
    "0007_summary_not_null": ["Alter field summary on note " + UNSAFE + "it makes the column NOT NULL: the running release may still write NULL, and the whole table is scanned under a lock]"],
    "0008_title_check": ["Create constraint note_title_not_empty on model note " + UNSAFE + "a CheckConstraint that the running release may violate, validated on the whole table under a lock]"],
    "0009_tag": ["Create model Tag"],
    "0010_tag_colour": ["Add field colour to tag"],
    "0011_rename_summary": ["Rename field summary on note to abstract " + UNSAFE + "the running release reads and writes the column by its old name]"],
    "0012_forget_body": ["Custom state/database change combination"],
    "0012a_note_stamped": ["Add field stamped to note " + KEPT + "the running release's INSERTs leave the column out: it gets DEFAULT now() in the database, set in the migration's own transaction]"],
    "0012b_note_token": [
        "Add field token to note " + KEPT + "the running release's INSERTs leave the column out: it gets DEFAULT gen_random_uuid() in the database, set in the migration's own transaction]"
    ],
    "0012c_note_code": ["Add field code to note " + UNSAFE + "its default is secrets.token_hex(), which the database cannot compute for the running release's INSERTs, which leave the column out]"],
    "0012d_drop_abstract": [
        "Remove field abstract from note [deferred until the new release serves: the running release still reads the column abstract of note: "
        "it is dropped once the new release serves everywhere, and made nullable first so that the new release's INSERTs, which leave it out, work]"
    ],
    "0012e_abstract_again": ["Add field abstract to note"],
    "0013_drop_created": ['Remove field created from note [after the deploy: composeship = "post-deploy"]'],
    "0014_title_narrow": ["Alter field title on note [after the deploy: it depends on notes.0013_drop_created]"],
    "0015_drop_tag": ["Delete model Tag [after the deploy: it depends on notes.0014_title_narrow]"],
}


def plan_of(stdout: str) -> dict[str, list[str]]:
    """migration name -> its operation lines, from the plan the check prints."""
    found, current = {}, None
    for line in stdout.splitlines():
        if line.startswith("  ") and not line.startswith("    ") and line.strip()[:4].isdigit():
            current = found.setdefault(line.strip(), [])
        elif line.startswith("    - ") and current is not None:
            current.append(line[6:])
    return found


def test_check_migrations_classifies_each_rule_on_real_postgres(local_stack):
    """One migration per rule (tests/e2e/migration_rules), loaded by the Django of the
    example's image against its PostgreSQL."""
    env = env_for(local_stack)
    migrated = tool("inv", "local.migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    for migration in RULES.glob("0*.py"):
        shutil.copy(migration, local_stack.folder / "notes/migrations" / migration.name)

    checked = tool("inv", "local.check-migrations", env=env)
    line = assert_one_error_line(checked, alone=False)
    plan = plan_of(checked.stdout)
    assert plan == RULES_PLAN
    refused = sorted({part.split(":")[0] for part in line.removeprefix("error: ").split(" — ")[0].split("; ")})
    assert refused == [
        "notes.0007_summary_not_null",
        "notes.0008_title_check",
        "notes.0012_forget_body",
        "notes.0012c_note_code",
        "notes.0012d_drop_abstract",
        "notes.0014_title_narrow",
        "notes.0015_drop_tag",
    ], line
    assert "notes.0012d_drop_abstract: dependency (Add field abstract to note in notes.0012e_abstract_again)" in line
    assert "notes.0014_title_narrow: dependency (depends on notes.0013_drop_created)" in line
    assert 'notes.0012_forget_body: mark (composeship = "afterdeploy") is unsafe while the old code serves: composeship knows no such value' in line
    assert local_stack.applied_migrations() >= {"notes.0001_initial"} and "notes.0002_note_body" not in local_stack.applied_migrations()


def verdicts(plan: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each operation's verdicts alone (Django's own descriptions differ by version)."""
    kinds = {"[unsafe": "unsafe", "[slow": "slow", "[default kept": "kept", "[deferred": "deferred", "[after the deploy": "after", "[runs code]": "runs code"}
    return {name: [",".join(kind for mark, kind in kinds.items() if mark in line) for line in lines] for name, lines in plan.items()}


def django_image(stack, version: str) -> str:
    """The local stack's django image with another Django and psycopg2 from PyPI
    (installed on this machine: the containers reach no HTTPS) in front of Debian's."""
    site = REPO / ".sandbox" / "django" / version
    site.parent.mkdir(parents=True, exist_ok=True)
    # Two tests of one version may run at once on two workers: one installs while the
    # other waits, and the folder appears only once complete.
    with open(site.parent / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (site / "django").is_dir():
            partial = site.parent / f".{version}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            installed = subprocess.run(
                [str(BIN / "pip"), "install", "-q", "--disable-pip-version-check", "--target", str(partial), f"Django=={version}.*", "psycopg2-binary>=2.9.9,<3"],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert installed.returncode == 0, installed.stderr
            shutil.rmtree(site, ignore_errors=True)
            partial.rename(site)
    built = stack.compose("build", "-q", "django")
    assert built.returncode == 0, built.stderr
    image = f"composeship-test-django:{version}"
    # Made once per image of the example's django (each test's stack builds the same
    # one): sending the other Django's 40 MB as a build context again costs seconds.
    base = stack.docker("image", "inspect", "--format", "{{.Id}}", "example_local_django", check=True).stdout.strip()
    made_from = stack.docker("image", "inspect", "--format", '{{index .Config.Labels "composeship.test.base"}}', image).stdout.strip()
    if made_from == base:
        return image
    context = stack.folder / f".django-{version}"
    shutil.copytree(site, context / "site")
    (context / "Dockerfile").write_text("FROM example_local_django\nCOPY site /opt/django-site\nENV PYTHONPATH=/opt/django-site\n")
    made = subprocess.run(["docker", "build", "-q", "--label", f"composeship.test.base={base}", "-t", image, str(context)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    shutil.rmtree(context)
    return image


@pytest.mark.parametrize("version", ["4.2", "5.2"])
def test_the_rules_give_the_same_verdicts_on_newer_djangos(local_stack, version):
    """What the schema editor does differs between Django versions: the rules, judged
    by Django 4.2 and 5.2 on the same PostgreSQL, give the verdicts they give on 3.2."""
    compose = local_stack.folder / "docker-compose.local.yml"
    image = django_image(local_stack, version)
    compose.write_text(compose.read_text().replace("image: example_local_django", f"image: {image}"))
    env = env_for(local_stack)
    shown = local_stack.compose("run", "--rm", "django", "python", "-c", "import django; print(django.get_version())")
    assert shown.stdout.strip().startswith(version), shown.stdout + shown.stderr
    migrated = tool("inv", "local.migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    for migration in RULES.glob("0*.py"):
        shutil.copy(migration, local_stack.folder / "notes/migrations" / migration.name)
    checked = tool("inv", "local.check-migrations", env=env)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert verdicts(plan_of(checked.stdout)) == verdicts(RULES_PLAN), checked.stdout


PINNED_0002 = """from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('notes', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='note',
            name='pinned',
            field=models.BooleanField(default=False),
        ),
    ]
"""

NO_TITLE_0003 = """from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('notes', '0002_note_pinned'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='note',
            name='title',
        ),
    ]
"""


@pytest.mark.parametrize("version", ["3.2", "4.2", "5.2"])
def test_the_migrate_program_keeps_a_default_and_defers_a_drop_on_each_django(local_stack, version):
    """What composeship does inside the migrate container, on each Django: the default of
    a new NOT NULL column stays in the database, a dropped column is left, nullable,
    until the deferred drop runs."""
    from tasks.commands import migrate as m
    from tasks.records import DeferredDrop

    if version != "3.2":
        compose = local_stack.folder / "docker-compose.local.yml"
        image = django_image(local_stack, version)
        compose.write_text(compose.read_text().replace("image: example_local_django", f"image: {image}"))
    env = env_for(local_stack)
    migrated = tool("inv", "local.migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    (local_stack.folder / "notes/migrations/0002_note_pinned.py").write_text(PINNED_0002)
    (local_stack.folder / "notes/migrations/0003_remove_note_title.py").write_text(NO_TITLE_0003)
    drop = DeferredDrop("notes.0003_remove_note_title", 0, "Remove field title from note")

    def program(work):
        return local_stack.compose("run", "--rm", "django", "python", "manage.py", "shell", "-c", m.program(work), check=False)

    def column(name):
        return local_stack.sql(f"select coalesce(column_default, 'none') || ' ' || is_nullable from information_schema.columns where table_name = 'notes_note' and column_name = '{name}'")

    before = program(m.MigrateWork(keep=(m.KeepDefault("notes.0002_note_pinned", 0),), defer=(drop,)))
    assert before.returncode == 0, before.stdout + before.stderr
    assert "Applying notes.0002_note_pinned... OK" in before.stdout and "Applying notes.0003_remove_note_title... OK" in before.stdout
    report = m.parse(before.stdout)
    assert report.kept == ("notes.0002_note_pinned: notes_note.pinned DEFAULT False",) and report.deferred == (drop.key,)
    assert column("pinned") == ["false NO"] and column("title") == ["none YES"]
    # An INSERT of the old code (no pinned) and one of the new code (no title) both work.
    local_stack.sql("insert into notes_note (title, created) values ('old code', now())")
    local_stack.sql("insert into notes_note (created, pinned) values (now(), true)")
    assert local_stack.sql("select count(*) from notes_note") == ["2"]

    after = program(m.MigrateWork(targets=(), drops=(drop,)))
    assert after.returncode == 0, after.stdout + after.stderr
    assert m.parse(after.stdout).done(drop.key) and column("title") == []
    again = program(m.MigrateWork(targets=(), drops=(drop,)))
    assert m.parse(again.stdout).drops == {drop.key: "gone"}

from tasks import applied_migrations
from tasks.commands import git
from tasks.facts import compose, migrations
from tasks.facts.git import parse_name_status
from tasks.facts.migrations import Migration


def test_migration_changes_between_revisions():
    assert git.migration_changes("a" * 40, "b" * 40) == [
        "git",
        "diff",
        "--name-status",
        "--no-renames",
        "a" * 40,
        "b" * 40,
        "--",
        ":(glob)**/migrations/*.py",
    ]
    assert parse_name_status("A\tnotes/migrations/0002_x.py\nM\tnotes/migrations/0001_initial.py\n") == [
        ("A", "notes/migrations/0002_x.py"),
        ("M", "notes/migrations/0001_initial.py"),
    ]


def test_applied_from_migrate_output():
    output = "Operations to perform:\n  Apply all migrations: notes\nRunning migrations:\n  Applying notes.0002_note_body... OK\n  Applying shop_orders.0001_initial... OK\n"
    assert migrations.parse_applied(output) == ["notes.0002_note_body", "shop_orders.0001_initial"]
    assert migrations.parse_applied("  No migrations to apply.\n") == []


def test_edited_applied_migrations_are_found_and_new_ones_are_not():
    plan = [Migration("notes", "0001_initial", True), Migration("notes", "0002_x", False), Migration("shop_orders", "0001_first", True)]
    changes = [
        ("M", "notes/migrations/0001_initial.py"),
        ("M", "notes/migrations/0002_x.py"),  # not applied yet: editing it is fine
        ("A", "notes/migrations/0003_y.py"),
        ("D", "apps/orders/migrations/0001_first.py"),  # custom label, matched by name
    ]
    assert migrations.edited_applied(changes, plan) == [
        ("notes/migrations/0001_initial.py", "notes.0001_initial"),
        ("apps/orders/migrations/0001_first.py", "shop_orders.0001_first"),
    ]


def test_plan_marks_irreversible_and_code_running_operations():
    pending = [Migration("notes", "0002_body", False), Migration("notes", "0003_fill", False)]
    operations = {
        "notes.0002_body": [("AddField", True, "Add field body to note")],
        "notes.0003_fill": [("RunPython", False, "Raw Python operation")],
    }
    assert migrations.format_plan(pending, operations) == [
        "notes:",
        "  0002_body",
        "    - Add field body to note",
        "  0003_fill",
        "    - Raw Python operation [irreversible] [runs code]",
    ]
    assert migrations.parse_operations('OPERATIONS {"notes.0003_fill": [["RunPython", false, "Raw Python operation"]]}') == {
        "notes.0003_fill": [("RunPython", False, "Raw Python operation")],
    }


def test_up_dry_run_names_the_services_compose_would_touch():
    output = (
        " DRY-RUN MODE -  Container shop-postgres-1  Running\n"
        " DRY-RUN MODE -  Container shop-django-1  Recreate\n"
        " DRY-RUN MODE -  Container shop-django-1  Recreated\n"
        " DRY-RUN MODE -  Container 0ad184473a4e_shop-django-1  Starting\n"
        " DRY-RUN MODE -  Container shop-celery-beat-1  Starting\n"
    )
    assert compose.parse_up_dry_run(output, "shop", ["django", "celery-beat", "postgres", "celery"]) == ["django", "celery-beat"]
    assert compose.parse_up_dry_run(" DRY-RUN MODE -  Container shop-postgres-1  Running\n", "shop", ["postgres"]) == []


def test_local_memory_of_applied_migrations(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project = tmp_path / "project"
    (project / "notes" / "migrations").mkdir(parents=True)
    first = project / "notes" / "migrations" / "0001_initial.py"
    first.write_text("# one\n")
    (project / "notes" / "migrations" / "__init__.py").write_text("")
    applied_migrations.remember(project, ["notes.0001_initial", "auth.0001_initial"])
    assert applied_migrations.edited(project) == []
    first.write_text("# one, edited\n")
    [(path, label, _)] = applied_migrations.edited(project)
    assert (path, label) == ("notes/migrations/0001_initial.py", "notes.0001_initial")

"""Migrations as makemigrations writes them deploy without a flag or a mark, and no
request fails, writes included: while clients read every column of the notes, insert
notes through the running code and ask for the version page through the proxy,

- a release that adds a NOT NULL field with a default deploys, its default kept in the
  database, so the old release's INSERTs (which leave the column out) still work; a
  rollback to the old release and the redeploy after it lose no request either;
- a release that removes the field deploys: its column is made nullable before the
  rollout (the new release's INSERTs leave it out) and dropped once the new release
  serves, gone when `fab deploy` returns; a rollback past it says so first.

The migrations are written by Django's own makemigrations, in the example's image."""

from __future__ import annotations

from pathlib import Path

from .helpers import add_field
from .load import Traffic
from .test_deploy import deploy_ok


def makemigrations(project) -> list[Path]:
    """Django's makemigrations for the notes app, run in the release's image on the
    developer's working copy: the files it writes, as it writes them."""
    folder = project.origin.work / "notes" / "migrations"
    before = set(folder.glob("0*.py"))
    made = project.docker("run", "--rm", "--network", "none", "-v", f"{project.origin.work}:/app", "-w", "/app", project.image("django"), "python", "manage.py", "makemigrations", "notes", timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    return sorted(set(folder.glob("0*.py")) - before)


def column(stack, name: str) -> list[str]:
    """The column's default as PostgreSQL has it, one line; [] when there is no column."""
    return stack.sql(f"select coalesce(column_default, 'none') || ' ' || is_nullable from information_schema.columns where table_name = 'notes_note' and column_name = '{name}'")


def test_a_not_null_field_with_a_default_and_then_its_removal_deploy_under_reads_and_writes(remote_project):
    project = remote_project
    stack = project.stack
    deploy_ok(project)

    add_field(project.origin.work, "pinned = models.BooleanField(default=False)")
    (added,) = makemigrations(project)
    assert added.name == "0002_note_pinned.py" and "models.BooleanField(default=False)" in added.read_text()
    project.origin.commit("notes can be pinned; 1.1.0", {"VERSION": "1.1.0\n"})

    with Traffic(project) as traffic:
        released = project.fab("deploy")
    assert released.returncode == 0, released.stdout + released.stderr
    traffic.check("1.0.0", "1.1.0")
    assert "notes.0002_note_pinned: Add field pinned to note: default kept in the database while the old code runs" in released.stdout
    assert "notes.0002_note_pinned" in stack.applied_migrations()
    assert column(stack, "pinned") == ["false NO"]
    entry = project.releases()[-1]
    assert (entry["result"], entry["kept_defaults"]) == ("ok", ["notes.0002_note_pinned: notes_note.pinned DEFAULT False"])
    # The old release's writes during the rollout got the default.
    assert stack.sql("select count(*) from notes_note where pinned is null") == ["0"]

    with Traffic(project) as traffic:
        rolled = project.fab("rollback")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    traffic.check("1.0.0")
    assert project.page("/version/") == (200, "1.0.0")

    with Traffic(project) as traffic:
        again = project.fab("deploy")
    assert again.returncode == 0, again.stdout + again.stderr
    traffic.check("1.1.0")
    assert project.page("/version/") == (200, "1.1.0")

    models = project.origin.work / "notes" / "models.py"
    models.write_text(models.read_text().replace("    pinned = models.BooleanField(default=False)\n", ""))
    (removed,) = makemigrations(project)
    assert removed.name == "0003_remove_note_pinned.py" and "migrations.RemoveField(" in removed.read_text()
    project.origin.commit("pins go; 1.2.0", {"VERSION": "1.2.0\n"})

    with Traffic(project) as traffic:
        dropped = project.fab("deploy")
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    traffic.check("1.1.0", "1.2.0")
    out = dropped.stdout
    assert "notes.0003_remove_note_pinned: Remove field pinned from note: deferred until the new release serves" in out
    assert out.index("==> migrate [sandbox]") < out.index("==> health [sandbox]") < out.index("==> post-migrate [sandbox]") < out.index("==> record [sandbox]")
    assert column(stack, "pinned") == [], "the column is gone when fab deploy returns"
    entry = project.releases()[-1]
    drop = {"migration": "notes.0003_remove_note_pinned", "operation": 0, "description": "Remove field pinned from note"}
    assert (entry["result"], entry["deferred"], entry["dropped"]) == ("ok", [drop], [drop])
    # Rows the new release wrote while the old one still read the column left it empty.
    assert int(stack.sql("select count(*) from notes_note")[0]) > 0

    # Back to the release that reads the column: said before it is switched in.
    back = project.fab("rollback")
    assert back.returncode == 0, back.stdout + back.stderr
    assert "warning: notes.0003_remove_note_pinned ran after a deploy (a column or table dropped once no old code read it" in back.stdout, back.stdout

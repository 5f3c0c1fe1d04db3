"""`migrate-only`, top to bottom: preflight, lock, observe (and recover), the image that
serves, plan, stale-image check, backup, migrate in a one-off container of that
image, record, unlock. No fetch, no build, no restart."""

from __future__ import annotations

from ..commands.migrate import MigrateWork
from ..errors import DeployError, HostError
from ..facts import git as git_facts
from ..facts import images as image_facts
from ..facts import migrations as migration_facts
from ..records import Outcome, Release
from ..steps import database, images, lock, releases
from ..steps.migrate import backup_if_wanted, migrate
from ..steps.preflight import preflight
from ..target import Target
from .common import HostRun, new_release, short, under_lock
from .pipeline import print_plan


def migrate_only(t: Target, force: bool) -> Release:
    s = t.settings
    print_plan(
        t,
        "migrate-only",
        [
            ("preflight", "docker and compose usable, checkout present"),
            ("lock", t.lock_dir),
            ("observe", "the image the django containers run: migrations run with exactly that one"),
            ("plan", "pending migrations, from a one-off container of that image"),
            ("stale image", "refuse when the checkout has migrations the image lacks" + (" (--force: warn only)" if force else "")),
            ("backup", f"DEPLOY_BACKUP={s.backup}"),
            ("migrate", f"run --rm {s.django_service} python manage.py migrate --noinput"),
            ("record", releases.explain_record(t, "")),
            ("unlock", lock.explain_unlock(t, "")),
        ],
    )
    with t.step("preflight") as step:
        state = preflight(t, first_deploy=False, require_clean=False)
        step.note = f"checkout at {short(state.revision)}"
    run = HostRun(t, new_release(t, "migrate-only", ""))
    under_lock([run], lock.new_lock("migrate-only"), lambda cleanup: _migrate_serving_image(run, force))
    return run.release


def _migrate_serving_image(run: HostRun, force: bool) -> None:
    t, view, release = run.t, run.view, run.release
    serving = view.serving
    if not serving.running:
        raise HostError(f"nothing runs on {t.name}: migrate-only migrates with the image that serves", f"deploy first (`fab -H {t.name} deploy`)")
    release.revision = serving.revision
    run.group = view.group
    # `run --rm django` starts the image its name points at: make that the serving one.
    current = t.probe(image_facts.inspect(list(serving.images)), cwd=None)
    moving = {image: image_id for image, image_id in serving.images.items() if image_facts.id_of(current, image) != image_id}
    if moving:
        with t.step("align") as step:
            images.point_at(t, moving)
            step.note = f"{', '.join(sorted(moving))} pointed back at the image that serves"
    with t.step("plan") as step:
        report = database.check(t)
        known = report.plan if report is not None else None
        step.note = migration_facts.pending_note(migration_facts.pending(known)) if known is not None else "unknown until the image runs"
    with t.step("stale image") as step:
        if known is None:
            step.note = "unknown until the image runs"
        else:
            stale = migration_facts.stale_migrations(t.probe(git_facts.migration_files()), known)
            if stale and not force:
                raise DeployError(
                    f"the {t.settings.django_service} image on {t.name} lacks migrations that the checkout has: {', '.join(stale)}",
                    f"rebuild first with `fab -H {t.name} deploy`, or pass --force to migrate with the image as it is",
                )
            step.note = f"ignored (--force): {', '.join(stale)}" if stale else "image matches the checkout"
    # The image serves already, so no older code reads what its migrations drop: the
    # drops run now. Its defaults stay in the database for a rollback to older code.
    owed = releases.owed_drops(run.entries)
    keep = report.handling.keep if report is not None else ()
    pending = migration_facts.pending(known) + [drop.describe() for drop in owed] if known is not None else None
    backup_if_wanted(t, release, pending, run.group.all_services)
    migrate(t, release, MigrateWork(keep=keep, drops=tuple(owed)), todo="PostgreSQL rolled the failed migration's transaction back; fix it with a new migration", left="nothing was restarted")
    release.result = Outcome.OK

"""`migrate-only`: the steps of STEPS below, in order, under the lock: the image that
serves, plan, stale-image check, backup, migrate in a one-off container of that
image. No fetch, no build, no restart."""

from __future__ import annotations

from dataclasses import dataclass

from ..commands.migrate import MigrateWork
from ..errors import DeployError, HostError
from ..facts import git as git_facts
from ..facts import images as image_facts
from ..facts import migration_safety
from ..facts import migrations as migration_facts
from ..records import Outcome, Release
from ..steps import database, images, lock, releases
from ..steps.migrate import backup_if_wanted, migrate
from ..steps.preflight import preflight
from ..target import Target
from .common import OPENING, RECORD, UNLOCK, HostRun, new_release, short, under_lock
from .pipeline import Step, plan_lines, print_plan, run_in_order


@dataclass
class MigrateOnly:
    """One migrate-only run: what was asked, and what a step leaves for the next."""

    force: bool
    report: migration_safety.CheckReport | None = None
    known: list | None = None  # the plan: every migration and whether it is applied


def migrate_only(t: Target, force: bool) -> Release:
    job = MigrateOnly(force)
    print_plan(t, "migrate-only", plan_lines(t, "", [PREFLIGHT, *OPENING, *STEPS, RECORD, UNLOCK]))
    run = HostRun(t, new_release(t, "migrate-only", ""))
    PREFLIGHT.apply(job, run)
    under_lock([run], lock.new_lock("migrate-only"), lambda cleanup: run_in_order(STEPS, job, run))
    return run.release


def _preflight(job: MigrateOnly, run: HostRun) -> None:
    t = run.t
    with t.step("preflight") as step:
        state = preflight(t, first_deploy=False, require_clean=False)
        step.note = f"checkout at {short(state.revision)}"


def _align(job: MigrateOnly, run: HostRun) -> None:
    """`run --rm django` starts the image its name points at: make that the serving one."""
    t, view, release = run.t, run.view, run.release
    serving = view.serving
    if not serving.running:
        raise HostError(f"nothing runs on {t.name}: migrate-only migrates with the image that serves", f"deploy first (`fab -H {t.name} deploy`)")
    release.revision = serving.revision
    run.group = view.group
    current = t.probe(image_facts.inspect(list(serving.images)), cwd=None)
    moving = {image: image_id for image, image_id in serving.images.items() if image_facts.id_of(current, image) != image_id}
    if not moving:
        t.skip("align", f"the image names point at what serves ({serving.describe()})")
        return
    with t.step("align") as step:
        images.point_at(t, moving)
        step.note = f"{', '.join(sorted(moving))} pointed back at the image that serves"


def _plan(job: MigrateOnly, run: HostRun) -> None:
    t = run.t
    with t.step("plan") as step:
        job.report = database.check(t)
        job.known = job.report.plan if job.report is not None else None
        step.note = migration_facts.pending_note(migration_facts.pending(job.known)) if job.known is not None else "unknown until the image runs"


def _stale_image(job: MigrateOnly, run: HostRun) -> None:
    t = run.t
    with t.step("stale image") as step:
        if job.known is None:
            step.note = "unknown until the image runs"
            return
        stale = migration_facts.stale_migrations(t.probe(git_facts.migration_files()), job.known)
        if stale and not job.force:
            raise DeployError(
                f"the {t.settings.django_service} image on {t.name} lacks migrations that the checkout has: {', '.join(stale)}",
                f"rebuild first with `fab -H {t.name} deploy`, or pass --force to migrate with the image as it is",
            )
        step.note = f"ignored (--force): {', '.join(stale)}" if stale else "image matches the checkout"


def _backup(job: MigrateOnly, run: HostRun) -> None:
    known = job.known
    pending = migration_facts.pending(known) + [drop.describe() for drop in releases.owed_drops(run.entries)] if known is not None else None
    backup_if_wanted(run.t, run.release, pending, run.group.all_services)


def _migrate(job: MigrateOnly, run: HostRun) -> None:
    # The image serves already, so no older code reads what its migrations drop: the
    # drops run now. Its defaults stay in the database for a rollback to older code.
    owed = releases.owed_drops(run.entries)
    keep = job.report.handling.keep if job.report is not None else ()
    migrate(run.t, run.release, MigrateWork(keep=keep, drops=tuple(owed)), todo="PostgreSQL rolled the failed migration's transaction back; fix it with a new migration", left="nothing was restarted")
    run.release.result = Outcome.OK


PREFLIGHT = Step("preflight", lambda t, ref: "docker and compose usable, checkout present", _preflight)
STEPS = [
    Step("align", lambda t, ref: "the image the django containers run, which the migrations run with: the image names pointed back at it if they moved", _align),
    Step("plan", lambda t, ref: "pending migrations, from a one-off container of that image", _plan),
    Step("stale image", lambda t, ref: "refuse when the checkout has migrations the image lacks (--force: warn only)", _stale_image),
    Step("backup", database.explain_backup, _backup),
    Step("migrate", lambda t, ref: f"run --rm {t.settings.django_service} python manage.py migrate --noinput, with the drops earlier deploys deferred", _migrate),
]

"""What differs between the two engines a project's services run on (DEPLOY_ENGINE):
Docker Compose on each host, or a Docker Swarm stack deployed from a manager. Each
answers the same questions — is the host fit, does the ref serve already, what serves,
how a release is rolled out and put back, where the database is reached, what a
killed run left — and the pipelines ask `engine_of(t)` instead of which engine it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .commands import compose, git
from .commands import swarm as swarm_commands
from .errors import HostError
from .facts import swarm as swarm_facts
from .facts.host_state import Observed, Serving
from .pipelines.pipeline import Step, Where
from .records import Journal, short
from .steps import images, look, releases, services, swarm
from .steps.images import BuildGroup

# cookiecutter-django's database service, with its `backup` maintenance commands.
POSTGRES_SERVICE = "postgres"

if TYPE_CHECKING:
    from .pipelines.common import HostRun
    from .target import Target


class Compose:
    name = "compose"

    def check_host(self, t: Target) -> str:
        """Preflight beyond the shared checks; a note for the step ("" when none)."""
        return ""

    def setup_checks(self, t: Target) -> list[tuple[str, object]]:
        """`setup`'s own steps: (name, check) pairs; a check raises HostError for what
        is missing and returns the step's note."""
        return []

    def serves_already(self, t: Target, seen: look.Look) -> str | None:
        return look.serves_already(seen, t.settings.django_service, t.settings.compose_file)

    def steps_before_migrate(self, t: Target) -> list[Step]:
        """A deploy's steps of this engine between the build and the migration, on the primary."""
        return []

    def explain_restart(self, t: Target, ref: str = "") -> str:
        return "in order: " + ", ".join(t.settings.restart_order) + ", then the others; only services not running the release's image or whose configuration changed; then checked"

    def serving(self, t: Target, observed: Observed, group: BuildGroup) -> Serving:
        return observed.serving(group.services, t.settings.django_service)

    def announce_restart(self, t: Target, group: BuildGroup, as_checked_out_now: bool) -> None:
        """Said once the release is checked out and built: how each service gets it."""
        services.say_how(t, group, as_checked_out_now=as_checked_out_now)

    def roll_out(self, run: HostRun) -> None:
        """A redeploy of what serves restarts nothing unless a container is down or the
        configuration (env files, `.env`) was edited since that release was deployed."""
        t = run.t
        same_config = releases.served_config(run.entries, run.previous) == run.group.fingerprint != ""
        restarted, why = services.bring_to_release(t, run.group, run.target_ids, same_revision=run.revision is not None and run.revision == run.previous, same_config=same_config)
        if not restarted:
            t.skip("restart", why)

    def preview_restart(self, run: HostRun) -> None:
        """What the restart would do, as it would decide it now (the images built, the
        release checked out): each service to restart and how, an outage said first."""
        t = run.t
        with t.step("restart plan") as step:
            lines = services.preview(t, run.group, run.target_ids)
            step.note = f"{len(lines)} service(s) to restart" if lines else "nothing to restart"
        for line in lines:
            t.report.say(line)

    def bring_to(self, t: Target, group: BuildGroup, image_ids: dict, revision: str, same_config: bool = False) -> None:
        """Restart into a release whose images and checkout are in place (a rollback)."""
        restarted, why = services.bring_to_release(t, group, dict(image_ids), same_revision=False, same_config=same_config)
        if not restarted:
            t.skip("restart", why)

    def restore_killed(self, t: Target, found, killed: Journal) -> str:
        """After a killed run, before its journal is closed: put back what it left half
        done that the shared recovery does not (returns a note; "" when nothing)."""
        return ""

    def group_after_checkout(self, t: Target, group: BuildGroup) -> BuildGroup:
        """The build group a rollback restarts with, once the checkout is back."""
        return group

    def rolled_back(self, run: HostRun) -> str:
        return f"{run.t.name} rolled back to the previous release {run.view.serving.describe()}, which answers again"

    def logs_todo(self, t: Target) -> str:
        return f"see `{t.settings.compose_command} logs {t.settings.django_service}` on {t.name}"

    def in_postgres(self, t: Target, *args: str) -> list[str]:
        return compose.exec_in(t.project, POSTGRES_SERVICE, *args)

    postgres_where = "service"

    def status_rows(self, t: Target, observed: Observed) -> list[dict]:
        return [container_row(c) for c in observed.containers]

    def logs(self, t: Target, names: list[str], follow: bool, since: str | None, tail: int | None) -> None:
        # Interactive: Ctrl-C must end `--follow` at once, not wait for it.
        t.run(compose.logs(t.project, names, follow=follow, since=since, tail=tail), interactive=follow)


class Swarm(Compose):
    """The stack named DEPLOY_COMPOSE_PROJECT, from its manager (steps/swarm.py)."""

    name = "swarm"

    def check_host(self, t: Target) -> str:
        swarm.check_manager(t)
        return f"; a swarm manager, stack {swarm.stack_name(t)}"

    def setup_checks(self, t: Target) -> list[tuple[str, object]]:
        def manager():
            swarm.check_manager(t)
            return f"an active manager; the stack will be {swarm.stack_name(t)}"

        def registry():
            swarm.check_registry(t)
            return f"{t.settings.registry} answers"

        return [("swarm", manager)] + ([("registry", registry)] if t.settings.registry else [])

    def serves_already(self, t: Target, seen: look.Look) -> str | None:
        return swarm.serves_already(t, seen)

    def steps_before_migrate(self, t: Target) -> list[Step]:
        push = Step("push", self.explain_push, lambda deploy, run: self.push(run), Where.PRIMARY)
        stack = Step("stack", self.explain_stack, lambda deploy, run: self.write_stack(run), Where.PRIMARY)
        return [push, stack] if t.settings.registry else [stack]

    def explain_push(self, t: Target, ref: str) -> str:
        return f"every built image to {t.settings.registry} under its release tag; the stack names each by the digest it gets"

    def explain_stack(self, t: Target, ref: str) -> str:
        return f"the stack file from the configuration, the release's images pinned, written to {swarm.stack_file_path(t)} (mode 600); an empty swarm gets the stack before the migration"

    def explain_restart(self, t: Target, ref: str = "") -> str:
        how = "each service updated as its update_config says (start-first unless it publishes a host port)"
        until = f"until every task runs the release's image, within {t.settings.healthcheck_timeout}s"
        return f"docker stack deploy of the stack file, {how}, {until}; a release the swarm rolls back keeps the old tasks serving"

    def serving(self, t: Target, observed: Observed, group: BuildGroup) -> Serving:
        return swarm.serving(t, group)

    def announce_restart(self, t: Target, group: BuildGroup, as_checked_out_now: bool) -> None:
        """The stack's update_config says how each service gets the release."""

    def push(self, run: HostRun) -> None:
        """The release's images to the registry: the stack names each by its digest."""
        run.stack_images = swarm.images_for(run.t, run.group, run.revision or "")

    def write_stack(self, run: HostRun) -> None:
        """The stack file and the network file on the manager. A first deploy onto an
        empty swarm deploys the stack before migrating: the migration needs its database."""
        t = run.t
        pinned = run.stack_images or swarm.images_for(t, run.group, run.revision or "")
        with t.step("stack") as step:
            run.stack_images = swarm.write_files(t, run.group, run.revision or "", pinned)
            step.note = swarm.stack_file_path(t)
        if swarm.services(t):
            return
        with t.step("first stack") as step:
            swarm.deploy_stack(t)
            others = {service: image for service, image in run.stack_images.items() if service not in run.group.services}
            swarm.wait_converged(t, others, t.settings.healthcheck_timeout)
            step.note = f"{', '.join(sorted(others)) or 'nothing'} running before the migration"

    def roll_out(self, run: HostRun) -> None:
        swarm.roll_out(run.t, run.stack_images, run.revision or "")

    def preview_restart(self, run: HostRun) -> None:
        t = run.t
        t.skip("restart plan", f"on a swarm, `docker stack deploy` updates what the stack file changes, as each service's update_config says ({swarm.stack_file_path(t)})")

    def bring_to(self, t: Target, group: BuildGroup, image_ids: dict, revision: str, same_config: bool = False) -> None:
        """The stack file of `revision`, from `group`: the configuration checked out now."""
        swarm.bring_to(t, group, revision)

    def group_after_checkout(self, t: Target, group: BuildGroup) -> BuildGroup:
        """The stack file is made from the configuration: read it again as checked out."""
        return images.build_group(t)

    def restore_killed(self, t: Target, found, killed: Journal) -> str:
        """Its stack deploy had begun: the swarm runs (or is updating to) what never
        passed the health gate. The stack goes back to what served before it, as its
        journal says, each service updated start-first as for a release."""
        if not stack_changed_by(found.serving, killed):
            return ""
        t.run(git.checkout(killed.serving), stream=False)
        swarm.bring_to(t, images.build_group(t), killed.serving, step_name="restore")
        return f"the stack back on {short(killed.serving)}, which served before it; "

    def rolled_back(self, run: HostRun) -> str:
        return f"{run.t.name}: the swarm went back to the stack's previous spec, whose tasks answer"

    def logs_todo(self, t: Target) -> str:
        service = f"{swarm.stack_name(t)}_{t.settings.django_service}"
        return f"see `docker service ps {service} --no-trunc` and `docker service logs {service}` on {t.name}"

    def in_postgres(self, t: Target, *args: str) -> list[str]:
        """In its task on the manager: a swarm may place it on another node, which is not reached."""
        return swarm_commands.exec_in_task(f"{swarm.stack_name(t)}_{POSTGRES_SERVICE}", *args)

    postgres_where = "task on this manager"

    def status_rows(self, t: Target, observed: Observed) -> list[dict]:
        return swarm.task_rows(t) + [container_row(c) for c in observed.containers if c.oneoff]

    def logs(self, t: Target, names: list[str], follow: bool, since: str | None, tail: int | None) -> None:
        stack = swarm.stack_name(t)
        if not names:
            names = t.probe(swarm_facts.service_names(stack), cwd=None)
        if not names:
            raise HostError(f"the stack {stack} runs no service on {t.name}", f"deploy it first (`fab -H {t.name} deploy`); `docker stack ls` there lists the stacks")
        t.run(swarm_commands.logs([f"{stack}_{name}" for name in names], follow=follow, since=since, tail=tail), cwd=None, interactive=follow)


COMPOSE, SWARM = Compose(), Swarm()


def engine_of(t: Target) -> Compose:
    return SWARM if t.settings.engine == "swarm" else COMPOSE


def stack_changed_by(serving: Serving, killed: Journal) -> bool:
    """On a swarm: did the killed run change the stack's spec (or leave an update that
    never settled)? Not when nothing served before it: then what runs is all there is."""
    return bool(killed.serving) and (serving.revision != killed.serving or bool(serving.not_ready))


def container_row(c) -> dict:
    return {"service": c.service, "container": c.name, "state": c.state, "health": c.health or None, "image": c.image_id, "revision": c.revision, "oneoff": c.oneoff}

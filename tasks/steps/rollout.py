"""Rolling a service out without downtime: new containers of the release's image start
beside the old ones, and only once the app answers in every new one are the old ones
stopped, gracefully, and removed. A service that cannot run twice at once (a published
host port, a container_name, a singleton such as celerybeat) is recreated in place
instead, and the plan says why and what would avoid the outage."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlsplit

from ..commands import rollout as commands
from ..errors import DeployError
from ..facts import host_state
from ..facts.compose import ServiceConfig
from ..facts.host_state import Container
from ..target import Target


@dataclass(frozen=True)
class Strategy:
    service: str
    rolls_out: bool
    reason: str = ""
    advice: str = ""
    ready: str = ""  # how a new container is judged ready

    def describe(self) -> str:
        if self.rolls_out:
            return f"{self.service}: rolled out, no downtime" + (f" ({self.ready})" if self.ready else "")
        return f"{self.service}: recreated: a short outage because {self.reason}; to avoid it, {self.advice}"


def strategy(config: ServiceConfig, singletons: Sequence[str], ready: str = "") -> Strategy:
    name = config.name
    if name in singletons:
        return Strategy(name, False, "it is a singleton (DEPLOY_SINGLETON_SERVICES): two of it must never run at once", f"take {name} out of DEPLOY_SINGLETON_SERVICES if two may run for a moment")
    if config.ports:
        return Strategy(name, False, f"it publishes port {', '.join(config.ports)} on the host, which only one container can bind", f"put a reverse proxy in front of {name} and remove its `ports:`")
    if config.container_name:
        return Strategy(name, False, f"it has the fixed name {config.container_name} (container_name), which only one container can have", f"remove `container_name:` from {name}")
    return Strategy(name, True, ready=ready)


def roll_out(t: Target, services: Sequence[str], running: dict[str, list[Container]], configs: dict[str, ServiceConfig], project_name: str) -> list[str]:
    """Start as many new containers beside each service's running ones, wait until the
    app answers in every new one, then stop the old ones within their grace period and
    remove them. Returns the new containers' ids. When the new ones never answer, they
    are removed, the old ones keep serving, and the error shows why."""
    # Beside whatever runs (containers a stopped run left included), as many new ones as
    # the service should run; all the old ones go once those answer.
    counts = {service: len(running[service]) + configs[service].replicas for service in services}
    old = {service: [c.id for c in running[service]] for service in services}
    t.run(commands.scale_up(t.project, counts), stream=False, label=f"docker compose up --scale {' '.join(f'{s}={n}' for s, n in counts.items())}")
    started = time.monotonic()
    waits = [(service, old[service], configs[service].healthcheck, app_answer(t.settings, configs[service])) for service in services]
    timeout = t.settings.healthcheck_timeout
    try:
        # Only waits: a stop signal need not wait for it (the new containers go below).
        result = t.run(commands.wait_ready(project_name, waits, timeout), cwd=None, stream=False, check=False, interruptible=True, label="wait for the new containers")
    except BaseException:
        _remove_new(t, project_name, services, old, configs)
        raise
    new = [line.split()[2] for line in result.stdout.splitlines() if line.startswith("new ")]
    if not result.ok:
        _remove_new(t, project_name, services, old, configs)
        why = what_it_said(result)
        raise DeployError(
            f"the new {', '.join(services)} container(s) on {t.name} did not answer within {timeout}s: {why}",
            "they were removed and the old containers kept serving: nothing changed for your users; fix the cause and deploy again",
        )
    stops: dict[int, list[str]] = {}
    for service in services:
        stops.setdefault(configs[service].stop_grace, []).extend(old[service])
    t.drill("rollout")
    settings = t.settings
    retire = commands.retire(stops, _settle_left(settings.rollout_settle, started, bool(settings.rollout_drain_command)), settings.rollout_drain_command or "", new, timeout)
    retired = t.run(retire, cwd=None, stream=False, check=False, label=f"stop the old {', '.join(services)} container(s)")
    if retired.exited == commands.NOT_DRAINED:
        # Nothing was drained or stopped: as when the new ones never answered.
        _remove_new(t, project_name, services, old, configs)
        raise DeployError(
            f"the new {', '.join(services)} container(s) on {t.name} were not reported healthy by Docker within {timeout}s"
            f" (a drain, DEPLOY_ROLLOUT_DRAIN_COMMAND, waits for it): {what_it_said(retired)}",
            "they were removed and the old containers kept serving, none drained; check the service's healthcheck (`docker inspect` shows Docker's view of it) and deploy again",
        )
    for line in retired.stderr.splitlines():
        if line.startswith("warning: "):
            t.report.say(f"{t.name}: {line}")
    if not retired.ok:
        raise t.executor.failure(retired, shown=False)
    return new


def wait_until_ready(t: Target, service: str, config: ServiceConfig, project_name: str) -> None:
    """After its containers were created or started in place: wait until each one runs
    and answers, as a rollout waits for new ones (its healthcheck run in it every
    quarter second, or the app asked), within DEPLOY_HEALTHCHECK_TIMEOUT."""
    timeout = t.settings.healthcheck_timeout
    waits = [(service, [], config.healthcheck, app_answer(t.settings, config))]
    result = t.run(commands.wait_ready(project_name, waits, timeout), cwd=None, stream=False, check=False, interruptible=True, label=f"wait for {service}")
    if not result.ok:
        why = what_it_said(result)
        raise DeployError(f"{service} on {t.name} was not ready within {timeout}s: {why}", f"see `docker compose logs {service}` on {t.name}")


def what_it_said(result, separator: str = " / ") -> str:
    """A failed host script's complaints (its stderr lines) on one line."""
    return separator.join(line.strip() for line in result.stderr.splitlines() if line.strip()) or f"exit code {result.exited}"


def app_answer(settings, config: ServiceConfig) -> tuple[int, str, str] | None:
    """(port, path, Host header) at which a new container of a web service without a
    healthcheck must answer before it counts as ready; None for the others, which Docker
    or their healthcheck judge."""
    if config.healthcheck or config.name not in settings.web_services:
        return None
    parts = urlsplit(settings.healthcheck_url or "")
    return (settings.app_port, parts.path or "/", parts.netloc.rsplit("@", 1)[-1] or "localhost")


def readiness(settings, config: ServiceConfig) -> str:
    """How the plan says a new container of the service is judged ready."""
    if config.healthcheck:
        return "ready when its healthcheck passes"
    answer = app_answer(settings, config)
    if answer:
        return f"no healthcheck: ready once the app answers at port {answer[0]}{answer[1]} of the new container"
    return "no healthcheck: ready once it runs"


def _settle_left(settle: float, started: float, drains: bool) -> float:
    """What is left of the settle time. A proxy that finds containers by DNS (nginx,
    Caddy) learns of the new ones from the moment they run, not once they answer, so
    the time spent waiting for them counts. After a drain (a proxy that routes by
    Docker health) it starts afresh."""
    if drains:
        return settle
    return round(max(0.0, settle - (time.monotonic() - started)), 1)


def _remove_new(t: Target, project_name: str, services: Sequence[str], old: dict[str, list[str]], configs: dict[str, ServiceConfig]) -> None:
    """The new containers go, each within its service's grace period: a proxy that
    finds containers through Docker's DNS sends them requests from the moment they run
    (those that do answer, on pages other than the health check), and a container
    removed by force would cut those requests off half-way."""
    current = t.probe(host_state.containers(t.project))
    olds = {cid for ids in old.values() for cid in ids}
    stops: dict[int, list[str]] = {}
    for c in current:
        if c.service in services and not c.oneoff and c.id not in olds:
            stops.setdefault(configs[c.service].stop_grace, []).append(c.id)
    if stops:
        t.run(commands.retire(stops, 0), cwd=None, stream=False, check=False, label="stop the new container(s) that never answered")

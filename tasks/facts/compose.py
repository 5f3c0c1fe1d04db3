"""Facts about a compose project: its services, and the state of its containers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..commands import compose as cmd
from ..commands.compose import ComposeProject
from ..errors import DeployError
from . import Fact


def parse_services(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.strip()]


def services(project: ComposeProject) -> Fact[list[str]]:
    return Fact("compose services", cmd.config_services(project), parse_services)


@dataclass(frozen=True)
class ContainerState:
    service: str
    name: str
    state: str  # running, exited, restarting, created, ...
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    image: str
    status: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "running" and self.health in ("", "healthy")


def parse_ps(stdout: str) -> list[ContainerState]:
    """`docker compose ps --format json`: one object per line (Compose >= 2.21) or
    one JSON array (older Compose v2)."""
    text = stdout.strip()
    if not text:
        return []
    try:
        rows = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as problem:
        raise DeployError(f"could not read `docker compose ps` output ({problem})", "check that Compose v2 is installed") from None
    return [
        ContainerState(
            service=row.get("Service", ""),
            name=row.get("Name", ""),
            state=row.get("State", ""),
            health=row.get("Health", "") or "",
            image=row.get("Image", ""),
            status=row.get("Status", ""),
        )
        for row in rows
    ]


def containers(project: ComposeProject) -> Fact[list[ContainerState]]:
    return Fact("compose containers", cmd.ps_json(project), parse_ps)


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    image: str
    build: tuple[str, str] | None  # (context, dockerfile), or None for pulled images


@dataclass(frozen=True)
class ComposeConfig:
    project_name: str
    services: dict[str, ServiceConfig]

    def sharing_build_with(self, service: str) -> list[str]:
        """The service and every other one built from the same context and Dockerfile
        (cookiecutter's celeryworker, celerybeat and flower share django's build)."""
        own = self.services[service].build
        if own is None:
            return []
        return [name for name, config in sorted(self.services.items()) if config.build == own]


def parse_config(stdout: str) -> ComposeConfig:
    """`docker compose config --format json`. Compose leaves `image` out when the file
    does not set it; its default is `<project>-<service>`."""
    try:
        document = json.loads(stdout)
    except json.JSONDecodeError as problem:
        raise DeployError(f"could not read `docker compose config` output ({problem})", "check that Compose v2 is installed") from None
    project_name = document.get("name", "")
    services = {}
    for name, body in (document.get("services") or {}).items():
        build = body.get("build")
        key = (build.get("context", "."), build.get("dockerfile", "Dockerfile")) if isinstance(build, dict) else None
        services[name] = ServiceConfig(name, body.get("image") or f"{project_name}-{name}", key)
    return ComposeConfig(project_name, services)


def config(project: ComposeProject) -> Fact[ComposeConfig]:
    return Fact("compose config", cmd.config_json(project), parse_config, redact=True)


_DRY_RUN_LINE = re.compile(r"Container (?P<name>\S+)\s+(?P<action>Recreate|Create|Creating|Starting)\b")


def parse_up_dry_run(stdout: str, project_name: str, services: list[str]) -> list[str]:
    """Services whose containers `up` would create, recreate or start (the others are
    running as configured). Containers are named `<project>-<service>-<n>`."""
    touched = set()
    for match in _DRY_RUN_LINE.finditer(stdout):
        name = match["name"].split("_", 1)[-1] if re.match(r"^[0-9a-f]{12}_", match["name"]) else match["name"]
        for service in services:
            if re.fullmatch(rf"{re.escape(project_name)}[-_]{re.escape(service)}[-_]\d+", name):
                touched.add(service)
    return [service for service in services if service in touched]

"""Facts about a compose project: its services, and the state of its containers."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field

from ..commands import compose as cmd
from ..commands.compose import ComposeProject
from ..errors import DeployError
from . import Fact, reads


def parse_services(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.strip()]


def services(project: ComposeProject) -> Fact[list[str]]:
    return Fact("compose services", cmd.config_services(project), parse_services)


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    image: str
    build: tuple[str, str] | None  # (context, dockerfile), or None for pulled images
    # Host ports it publishes (a fixed host port can be bound by one container only).
    ports: tuple[str, ...] = ()
    container_name: str | None = None
    # Its healthcheck as a shell command to run in the container; "" without one.
    healthcheck: str = ""
    # Seconds a container gets to stop after SIGTERM (stop_grace_period; Docker's 10 by default).
    stop_grace: int = 10
    # Containers it runs (`scale:` or `deploy.replicas`; 1 by default).
    replicas: int = 1
    # The services it needs started first (`depends_on`).
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class ComposeConfig:
    project_name: str
    services: dict[str, ServiceConfig]
    # A digest of the whole resolved configuration (env files and `.env` included): equal
    # digests, equal configuration, so a redeploy can tell that nothing was edited.
    fingerprint: str = ""
    # The whole document as Compose gave it (a swarm's stack file is made from it).
    document: dict = field(default_factory=dict, compare=False, repr=False)

    def sharing_build_with(self, service: str) -> list[str]:
        """The service and every other one built from the same context and Dockerfile
        (cookiecutter's celeryworker, celerybeat and flower share django's build)."""
        own = self.services[service].build
        if own is None:
            return []
        return [name for name, config in sorted(self.services.items()) if config.build == own]


@reads("`docker compose config`", "run `docker compose config` in DEPLOY_PATH on the host to see what it prints")
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
        services[name] = ServiceConfig(
            name,
            body.get("image") or f"{project_name}-{name}",
            key,
            ports=tuple(str(port["published"]) for port in body.get("ports") or () if isinstance(port, dict) and port.get("published")),
            container_name=body.get("container_name"),
            healthcheck=healthcheck_command(body.get("healthcheck")),
            stop_grace=duration_seconds(body.get("stop_grace_period"), default=10),
            replicas=_replicas(body),
            depends_on=tuple(sorted(body.get("depends_on") or ())),
        )
    return ComposeConfig(project_name, services, fingerprint(document), document)


def fingerprint(document: dict) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]


def _replicas(body: dict) -> int:
    for value in (body.get("scale"), (body.get("deploy") or {}).get("replicas")):
        if isinstance(value, int) and value > 0:
            return value
    return 1


def healthcheck_command(healthcheck: dict | None) -> str:
    """The compose healthcheck as one shell command (Compose keeps `$$` escaped)."""
    if not healthcheck or healthcheck.get("disable"):
        return ""
    test = healthcheck.get("test") or []
    if isinstance(test, str):
        return test.replace("$$", "$")
    if not test or test[0] == "NONE":
        return ""
    if test[0] == "CMD-SHELL":
        return " ".join(test[1:]).replace("$$", "$")
    words = test[1:] if test[0] == "CMD" else test
    return shlex.join(word.replace("$$", "$") for word in words)


_DURATION = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]*)?)(?P<unit>h|ms|us|ns|m|s)")


def duration_seconds(value, default: int) -> int:
    """A Go duration (`1m30s`, `500ms`) or a number of seconds, rounded up."""
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)):
        return max(0, int(-(-value // 1)))
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
    parts = _DURATION.findall(str(value))
    if not parts or "".join(number + unit for number, unit in parts) != str(value):
        return default
    total = sum(float(number) * units[unit] for number, unit in parts)
    return max(0, int(-(-total // 1)))


def config(project: ComposeProject, todo: str = "") -> Fact[ComposeConfig]:
    return Fact("compose config", cmd.config_json(project), parse_config, redact=True, todo=todo)


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


def changed_by_up(project: ComposeProject, project_name: str, services: list[str]) -> Fact[list[str]]:
    """`up --dry-run`: the services Compose would still change (it says so on stderr)."""
    return Fact("compose up --dry-run", cmd.up_dry_run(project), lambda output: parse_up_dry_run(output, project_name, services), with_stderr=True)

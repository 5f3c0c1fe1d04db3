"""Docker Swarm commands (DEPLOY_ENGINE=swarm), as argument lists: the stack named
DEPLOY_COMPOSE_PROJECT, deployed from the stack file composeship writes on the
manager, and the reads of its services and tasks."""

from __future__ import annotations

import shlex

SWARM_FORMAT = "{{json .Swarm}}"


def swarm_state() -> list[str]:
    """Whether this engine is in a swarm, and a manager: `docker info`'s Swarm part."""
    return ["docker", "info", "--format", SWARM_FORMAT]


# `--detach=true` where the CLI knows the flag (26 and later, which may one day wait by
# default); older CLIs (Debian 12's 20.10) never wait and refuse the flag.
_STACK_DEPLOY = 'if docker stack deploy --help 2>/dev/null | grep -q -e --detach; then exec docker stack deploy --detach=true "$@"; fi; exec docker stack deploy "$@"'


def stack_deploy(stack: str, stack_file: str, *, registry: bool) -> list[str]:
    """Returns once the swarm has the new spec: composeship then waits for the tasks
    itself, bounded, and says what they do (`--detach=false` can wait forever on a
    service that never converges). Without a registry (one node) the images are the
    engine's own, so their digests are not looked up."""
    resolve = ["--with-registry-auth", "--resolve-image", "always"] if registry else ["--resolve-image", "never"]
    return ["sh", "-c", _STACK_DEPLOY, "sh", "--prune", *resolve, "-c", stack_file, stack]


def shown(stack_deploy_argv: list[str]) -> str:
    """How the dry run and the output show `stack_deploy`: the command it runs, the
    flag in brackets (given where the CLI knows it)."""
    return "docker stack deploy [--detach=true] " + shlex.join(stack_deploy_argv[4:])


def stack_services(stack: str) -> list[str]:
    """Every service of the stack, as `docker service inspect` has it: one JSON array."""
    script = 'ids=$(docker stack services --quiet "$0") || exit 1; [ -n "$ids" ] || { echo "[]"; exit 0; }; exec docker service inspect $ids'
    return ["sh", "-c", script, stack]


def stack_tasks(stack: str) -> list[str]:
    """Every task of the stack, one JSON object per line (the newest first per slot)."""
    return ["docker", "stack", "ps", "--no-trunc", "--format", "{{json .}}", stack]


def service_logs(service: str, lines: int = 5) -> list[str]:
    return ["docker", "service", "logs", "--no-task-ids", "--tail", str(lines), service]


def registry_name(registry: str, image: str) -> str:
    """The release tag's name in the registry: `127.0.0.1:5000/shop_django:0123456789ab`."""
    return f"{registry}/{image}"


def push(source: str, target: str) -> list[str]:
    """Tag the release's image with its name in the registry, push it, and print the
    digest the registry gave it (`REPOSITORY@sha256:...`), one line."""
    script = 'docker tag "$0" "$1" && docker push --quiet "$1" >/dev/null && docker image inspect --format "{{range .RepoDigests}}{{println .}}{{end}}" "$1"'
    return ["sh", "-c", script, source, target]


def images_by_reference(references) -> list[str]:
    """For each image reference a spec names (a tag, or a digest from the registry):
    the reference, the local image's id and its revision label, one line each; a
    reference the engine does not have is left out."""
    script = 'for r; do out=$(docker image inspect --format "{{.Id}} {{index .Config.Labels \\"org.opencontainers.image.revision\\"}}" "$r" 2>/dev/null) && printf "%s %s\\n" "$r" "$out"; done; exit 0'
    return ["sh", "-c", script, "sh", *references]


def exec_in_task(service: str, *args: str) -> list[str]:
    """`docker exec` in a running task of the stack's `service` on this node (exit 3
    when none runs here: a swarm may place it on another node)."""
    script = 'c=$(docker ps -q --filter "label=com.docker.swarm.service.name=$0" --filter status=running | head -n 1); [ -n "$c" ] || exit 3; exec docker exec "$c" "$@"'
    return ["sh", "-c", script, service, *args]


def logs(services: list[str], follow: bool = False, since: str | None = None, tail: int | None = None) -> list[str]:
    """`docker service logs` of each of the stack's services (full names), at once:
    with --follow, each goes on until Ctrl-C ends them all."""
    flags = (["--follow"] if follow else []) + (["--since", since] if since else []) + (["--tail", str(tail)] if tail is not None else [])
    script = f'for s; do docker service logs {shlex.join(flags)} "$s" & done; wait'
    return ["sh", "-c", script, "sh", *services]


def stack_service_names(stack: str) -> list[str]:
    return ["docker", "stack", "services", "--format", "{{.Name}}", stack]


REGISTRY_PROBE = "composeship/registry-check:absent"


def registry_check(registry: str) -> list[str]:
    """Ask the registry, as the engine would for a push or pull (its TLS, its
    insecure-registries, its logins), for an image that is never there: its answer
    says whether it answers. Always exits 0; the output says."""
    return ["sh", "-c", 'docker pull --quiet "$0" 2>&1; exit 0', f"{registry}/{REGISTRY_PROBE}"]

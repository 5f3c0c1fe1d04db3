"""The stack file for `docker stack deploy`, made from the resolved configuration
(`docker compose config --format json` of the user's files, their swarm override
included). `docker stack deploy` does not take that output as it is: it refuses
`published` as a string, long-form `depends_on`, `name:` and `build:`. So the
configuration is converted, and each built service is pinned to the exact image of
the release, so that every task runs the image that was built (and proven) for it.

Pure: a document in, a document out; the pipeline writes it on the manager."""

from __future__ import annotations

import copy

# What only Compose reads (or that a stack names itself), left out of a stack file.
COMPOSE_ONLY = ("build", "container_name", "depends_on_required", "restart", "pull_policy", "scale", "profiles", "develop")
# A stack's services find each other on one attachable overlay network: the one-off
# migrate container joins it to reach the database.
NETWORK = {"driver": "overlay", "attachable": True}
# Rolled out without downtime unless the user's override says otherwise: a new task
# starts (and is healthy) before an old one stops; a task that never gets healthy
# makes the swarm go back to the previous spec.
UPDATE_DEFAULTS = {"order": "start-first", "failure_action": "rollback"}


def stack_document(config: dict, images: dict[str, str], *, network: str = "default") -> dict:
    """`config`: the resolved configuration; `images`: for each service to pin, the
    image reference it must run (`name:tag` or `name@sha256:...`)."""
    services = {}
    for name, body in sorted((config.get("services") or {}).items()):
        services[name] = _service(name, body, images.get(name))
    document = {"version": "3.8", "services": services, "networks": {network: dict(NETWORK)}}
    volumes = {name: _volume(body) for name, body in sorted((config.get("volumes") or {}).items())}
    if volumes:
        document["volumes"] = volumes
    return document


def _service(name: str, body: dict, image: str | None) -> dict:
    service = {key: copy.deepcopy(value) for key, value in body.items() if key not in COMPOSE_ONLY and value is not None and not key.startswith("x-")}
    if image:
        service["image"] = image
    depends = body.get("depends_on")
    if depends:
        service["depends_on"] = sorted(depends)
    else:
        service.pop("depends_on", None)
    # Every service on the stack's one network (a compose file's own networks aside).
    networks = body.get("networks")
    if not networks or set(networks) == {"default"}:
        service.pop("networks", None)
    if body.get("ports"):
        service["ports"] = [_port(port) for port in body["ports"]]
    deploy = service.setdefault("deploy", {})
    for key in ("resources", "placement"):
        if deploy.get(key) == {}:
            del deploy[key]
    replicas = body.get("scale")
    if isinstance(replicas, int) and "replicas" not in deploy:
        deploy["replicas"] = replicas
    if not _publishes_on_the_host(body):
        update = deploy.setdefault("update_config", {})
        for key, value in UPDATE_DEFAULTS.items():
            update.setdefault(key, value)
    if not deploy:
        del service["deploy"]
    return service


def _port(port) -> dict | str:
    if not isinstance(port, dict):
        return port
    converted = dict(port)
    published = converted.get("published")
    if isinstance(published, str) and published.isdigit():
        converted["published"] = int(published)
    if not converted.get("host_ip"):
        converted.pop("host_ip", None)
    return converted


def _publishes_on_the_host(body: dict) -> bool:
    """A task bound to a host port: two of them cannot run on one node at once, so
    start-first would wait forever for the port. Stopped first instead."""
    return any(isinstance(port, dict) and port.get("mode") == "host" and port.get("published") for port in body.get("ports") or ())


def _volume(body: dict | None) -> dict:
    # Compose names the volume `<project>_<name>`; the stack does the same with its
    # own name, so the name Compose gave is left out.
    return {key: value for key, value in (body or {}).items() if key != "name"}

"""`composeship init`: what `inv` and `fab` need in a Django project's own folder.

It detects what it can from the project's files (the compose files, the django
service and the services built like it, a health check path, a reverse proxy, the git
origin), then writes:

- `tasks.py` and `fabfile.py`, a few lines each that load composeship's collections
  (tasks/project.py), and `fabric.json`, which points `fab` at composeship's executor;
- `.composeship/local.env` and `.composeship/production.env`: every key, commented,
  with what was detected filled in. `.composeship/` stands for the project:
  `DEPLOY_PROJECT_DIR` defaults to the folder holding it (cookiecutter-django's own
  `config/` is its Django settings package, so composeship keeps out of it).

A file that is there already is kept; `--force` rewrites the files composeship wrote.
A project's own tasks.py or fabfile.py is never rewritten: init prints the two lines
that add composeship's tasks to it. Detection and rendering are pure functions of
the files' text; only `write_all` touches the disk."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from . import settings
from .errors import UsageError
from .facts import compose_file

SETTINGS_DIR = settings.PROJECT_CONFIG_DIR
# The first line of the tasks.py and fabfile.py that init writes: what tells them from a project's own.
MARK = "# Written by `composeship init`"
PACKAGE = "composeship"
# The class fabric.json names (tasks/fab_executor.py), by its installed name.
EXECUTOR = f"{PACKAGE}.fab_executor.ComposeshipExecutor"

LOCAL_COMPOSE = (
    "docker-compose.local.yml",
    "docker-compose.local.yaml",
    "compose.local.yml",
    "compose.local.yaml",
    "local.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
    "compose.yml",
    "compose.yaml",
)
PRODUCTION_COMPOSE = (
    "docker-compose.production.yml",
    "docker-compose.production.yaml",
    "docker-compose.prod.yml",
    "docker-compose.prod.yaml",
    "compose.production.yml",
    "compose.production.yaml",
    "compose.prod.yml",
    "compose.prod.yaml",
    "production.yml",
)
GENERIC_COMPOSE = ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml")
SWARM_COMPOSE = ("docker-compose.swarm.yml", "docker-compose.swarm.yaml", "compose.swarm.yml", "compose.swarm.yaml", "docker-stack.yml", "docker-stack.yaml")


@dataclass(frozen=True)
class ComposeInfo:
    """What one compose file tells."""

    file: str
    django: str | None = None
    built_like_django: tuple[str, ...] = ()
    proxy: str | None = None
    healthcheck_path: str | None = None
    port: compose_file.PublishedPort | None = None
    problem: str = ""
    # The host port the proxy publishes (its first TCP one).
    proxy_port: compose_file.PublishedPort | None = None
    django_has_healthcheck: bool = False


@dataclass(frozen=True)
class Detected:
    name: str
    has_manage_py: bool
    local: ComposeInfo | None
    production: ComposeInfo | None
    repo_url: str | None = None
    repo_url_refused: str = ""
    # An override for Docker Swarm beside the production file (docker-compose.swarm.yml).
    swarm_file: str | None = None


def read_compose(file: str, text: str) -> ComposeInfo:
    """A compose file's django service, the services built like it, its proxy, the path
    its healthcheck fetches and the host port it publishes."""
    try:
        doc = compose_file.parse(text)
    except ValueError as problem:
        return ComposeInfo(file, problem=f"{file} {problem}")
    django = compose_file.django_service(doc)
    spec = compose_file.services(doc).get(django or "", {})
    published = compose_file.published_ports(doc)
    ports = [p for p in published if p.service == django]
    proxy = compose_file.proxy_service(doc)
    proxy_ports = [p for p in published if p.service == proxy and p.protocol == "tcp" and p.port != 443]
    return ComposeInfo(
        file=file,
        django=django,
        built_like_django=tuple(compose_file.services_sharing_build(doc, django)) if django else (),
        proxy=proxy,
        healthcheck_path=compose_file.healthcheck_path(spec) if spec else None,
        port=ports[0] if ports else None,
        proxy_port=proxy_ports[0] if proxy_ports else None,
        django_has_healthcheck=bool((spec or {}).get("healthcheck")) and not (spec.get("healthcheck") or {}).get("disable"),
    )


def routes_by_host_name(proxy: str) -> bool:
    """Traefik (a `Host(...)` rule) and Caddy (a site address) answer by domain, so
    the health check must name it; nginx and HAProxy have a default that answers."""
    return any(name in proxy.lower() for name in ("traefik", "caddy"))


def pick(names: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((name for name in candidates if name in names), None)


def origin_url(project: Path) -> str | None:
    """The project's git origin, if it is a git checkout with one."""
    try:
        found = subprocess.run(["git", "-C", str(project), "remote", "get-url", "origin"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if found.returncode != 0:
        return None
    return found.stdout.strip() or None


def detect(project: Path, repo_url: str | None = None) -> Detected:
    """Read the project folder: manage.py, the compose files, the git origin (given, so
    that this stays a function of files)."""
    names = sorted(path.name for path in project.iterdir() if path.is_file())
    local_file = pick(names, LOCAL_COMPOSE)
    production_file = pick(names, PRODUCTION_COMPOSE) or pick(names, GENERIC_COMPOSE)
    refused = ""
    if repo_url:
        try:
            settings.KEYS_BY_NAME["DEPLOY_REPO_URL"].parse(repo_url)
        except ValueError as problem:
            refused, repo_url = str(problem), None
    return Detected(
        name=project.resolve().name,
        has_manage_py=(project / "manage.py").is_file(),
        local=read_compose(local_file, (project / local_file).read_text()) if local_file else None,
        production=read_compose(production_file, (project / production_file).read_text()) if production_file else None,
        repo_url=repo_url,
        repo_url_refused=refused,
        swarm_file=pick(names, SWARM_COMPOSE),
    )


@dataclass
class Value:
    """A key's line in a rendered file: set (with why), or shown commented."""

    value: str
    why: str = ""
    active: bool = True
    label: str = "Detected"
    # Another value, offered on a commented line after the one set (with its why).
    offered: tuple[str, str] | None = None


def _detected_values(scope: str, d: Detected) -> dict[str, Value]:
    info = d.local if scope == settings.LOCAL else d.production
    values: dict[str, Value] = {}
    if info is None:
        return values
    if info.problem:
        values["DEPLOY_COMPOSE_FILE"] = Value(info.file, f"found, but it {info.problem.removeprefix(info.file + ' ')}")
        return values
    values["DEPLOY_COMPOSE_FILE"] = Value(info.file, "found in the project")
    if info.django:
        values["DEPLOY_DJANGO_SERVICE"] = Value(info.django, f"the service in {info.file} that runs Django")
    if scope == settings.LOCAL:
        return values
    if info.built_like_django:
        values["DEPLOY_RESTART_ORDER"] = Value(",".join(info.built_like_django), f"{info.django} and the services built like it in {info.file}")
    path = info.healthcheck_path or "/"
    if info.proxy and info.proxy_port and info.healthcheck_path and not routes_by_host_name(info.proxy):
        through = f" (read from {info.proxy_port.variable} in the server's .env, {info.proxy_port.port} when unset)" if info.proxy_port.variable else ""
        values["DEPLOY_HEALTHCHECK_URL"] = Value(
            f"http://127.0.0.1:{info.proxy_port.port}{path}",
            f"{info.proxy} is in front of {info.django} in {info.file} and publishes port {info.proxy_port.port}{through}; {info.django}'s healthcheck fetches {path}",
        )
    elif info.proxy:
        values["DEPLOY_HEALTHCHECK_URL"] = Value(
            f"https://YOUR-DOMAIN{path}",
            f"{info.proxy} is in front of {info.django} in {info.file}: poll through it, with your site's domain",
            active=False,
        )
    elif info.port and info.healthcheck_path:
        through = f" (read from {info.port.variable} in the server's .env, {info.port.port} when unset)" if info.port.variable else ""
        values["DEPLOY_HEALTHCHECK_URL"] = Value(
            f"http://127.0.0.1:{info.port.port}{path}",
            f"{info.django}'s healthcheck fetches {path}, and {info.file} publishes it on port {info.port.port}{through}",
        )
    elif info.healthcheck_path:
        values["DEPLOY_HEALTHCHECK_URL"] = Value(f"http://127.0.0.1:PORT{path}", f"{info.django}'s healthcheck fetches {path}; use the port it answers on", active=False)
    values["DEPLOY_PATH"] = Value(f"/srv/{d.name}", "set the folder your project lives in on the server, here or in hosts/HOST.env", active=False, label="To do")
    if d.swarm_file:
        # Offered, not switched on: the same project may well deploy to Compose hosts.
        why = f"{d.swarm_file} is beside {info.file}: to deploy as a Docker Swarm stack from a manager, set these (and DEPLOY_COMPOSE_PROJECT, the stack's name)"
        values["DEPLOY_ENGINE"] = Value("swarm", why, active=False)
        values["DEPLOY_COMPOSE_FILE"] = Value(info.file, "found in the project", offered=(f"{info.file}:{d.swarm_file}", f"on a swarm, with the override {d.swarm_file}"))
        values["DEPLOY_REGISTRY"] = Value("registry.example.com:5000", "on a swarm of several nodes: the registry every node pulls each release from, by digest", active=False)
    if d.repo_url:
        values["DEPLOY_REPO_URL"] = Value(d.repo_url, "this project's git origin")
    elif d.repo_url_refused:
        values["DEPLOY_REPO_URL"] = Value("", f"this project's git origin {d.repo_url_refused}: use a URL without them", active=False)
    return values


HEADERS = {
    settings.LOCAL: (
        "composeship settings for `inv local.*` in this project (written by `composeship init`).",
        "Every key is listed with its meaning; commented lines show the default. Relative paths",
        "are relative to this folder. DEPLOY_* environment variables win over this file.",
        "DEPLOY_PROJECT_DIR defaults to the folder that holds .composeship/.",
    ),
    settings.PRODUCTION: (
        "composeship settings for server tasks (`fab -H HOST ...`) of this project (written by",
        "`composeship init`). What differs per server goes in hosts/HOST.env (HOST: the name",
        "given to -H), which wins over this file; DEPLOY_* environment variables win over both.",
        "Every key is listed with its meaning; commented lines show the default. No secrets",
        "here: the server keeps its own (.envs/, .env), and `fab -H HOST setup` lists them.",
    ),
}


def _default_text(key: settings.Key, scope: str) -> str:
    default = key.default(scope)
    if isinstance(default, tuple):
        return ",".join(default)
    return "" if default is None else str(default)


def render_env(scope: str, d: Detected) -> str:
    """A settings file: a header, then every key with its help, set where something
    was detected, commented (with its default) where not."""
    found = _detected_values(scope, d)
    lines = [f"# {line}" for line in HEADERS[scope]]
    for key in settings.KEYS:
        if key.name == "DEPLOY_PROJECT_DIR":
            continue  # the folder holding .composeship/
        required = " Required." if scope in key.required_in else ""
        lines += ["", f"# {key.help}{required}"]
        value = found.get(key.name)
        if value is None:
            lines.append(f"# {key.name}={_default_text(key, scope)}")
            continue
        if value.why:
            lines.append(f"# {value.label}: {value.why}.")
        lines.append(f"{'' if value.active else '# '}{key.name}={value.value}")
        if value.offered:
            lines += [f"# Or, {value.offered[1]}:", f"# {key.name}={value.offered[0]}"]
    return "\n".join(lines) + "\n"


def render_tasks_py() -> str:
    return (
        f"{MARK}: `inv --list` shows composeship's local tasks (`inv local.migrate`, ...).\n"
        f"# Settings: {SETTINGS_DIR}/local.env. Add your own tasks below, or to `ns`.\n"
        f"from {PACKAGE}.project import inv_namespace\n"
        "\n"
        "ns = inv_namespace()\n"
    )


def render_fabfile() -> str:
    return (
        f"{MARK}: `fab --list` shows composeship's server tasks (`fab -H prod deploy`, ...)\n"
        f"# and the local ones. Settings: {SETTINGS_DIR}/production.env and {SETTINGS_DIR}/hosts/HOST.env.\n"
        f"# fabric.json beside this file sets composeship's executor. Add your own tasks to `ns`.\n"
        f"from {PACKAGE}.project import fab_namespace\n"
        "\n"
        "ns = fab_namespace()\n"
    )


def include_lines(tool: str) -> str:
    """What a project adds at the end of its own tasks.py or fabfile.py."""
    return f'from {PACKAGE}.project import include\n\nns = include(globals(), "{tool}")\n'


def render_fabric_json(existing: str | None = None) -> str | None:
    """fabric.json with composeship's executor: new, or the project's own with the key
    added. None when the project's file sets another executor, or is not JSON."""
    if existing is None:
        return json.dumps({"tasks": {"executor_class": EXECUTOR}}, indent=2) + "\n"
    try:
        config = json.loads(existing)
    except ValueError:
        return None
    if not isinstance(config, dict) or not isinstance(config.setdefault("tasks", {}), dict):
        return None
    current = config["tasks"].get("executor_class")
    if current not in (None, EXECUTOR):
        return None
    config["tasks"]["executor_class"] = EXECUTOR
    return json.dumps(config, indent=2) + "\n"


class FileOutcome(Enum):
    WROTE = "wrote"
    REWROTE = "rewrote"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    KEPT = "kept"
    YOURS = "yours"


@dataclass
class Written:
    """A file and what init does with it: its new text, or None when it is left alone."""

    path: str
    outcome: FileOutcome
    note: str = ""
    text: str | None = None


@dataclass
class Plan:
    """What init would write where, decided before anything is written."""

    files: list[Written] = field(default_factory=list)
    add_by_hand: list[str] = field(default_factory=list)

    def write(self, path: str, text: str, outcome: FileOutcome) -> None:
        self.files.append(Written(path, outcome, text=text))

    def leave(self, path: str, outcome: FileOutcome, note: str = "") -> None:
        self.files.append(Written(path, outcome, note))


def _is_ours(text: str) -> bool:
    return text.startswith(MARK)


def plan(project: Path, d: Detected, force: bool = False) -> Plan:
    """For each file: write it (missing), rewrite it (--force, and composeship's own),
    leave it (there already, or the project's own), or add a key (fabric.json)."""
    result = Plan()
    wanted = {
        "tasks.py": (render_tasks_py(), "inv"),
        "fabfile.py": (render_fabfile(), "fab"),
    }
    for name, (text, tool) in wanted.items():
        path = project / name
        if not path.exists():
            result.write(name, text, FileOutcome.WROTE)
        elif path.read_text() == text:
            result.leave(name, FileOutcome.UNCHANGED)
        elif _is_ours(path.read_text()):
            if force:
                result.write(name, text, FileOutcome.REWROTE)
            else:
                result.leave(name, FileOutcome.KEPT, "there already; --force rewrites it")
        elif f"{PACKAGE}.project import include" in path.read_text():
            result.leave(name, FileOutcome.UNCHANGED, "your own, with composeship's tasks included")
        else:
            result.leave(name, FileOutcome.YOURS, f"your own: add composeship's tasks at its end (below); `{tool}` then lists both")
            result.add_by_hand.append(f"at the end of {name}:\n" + include_lines(tool))

    yaml_config = next((name for name in ("fabric.yaml", "fabric.yml") if (project / name).exists()), None)
    if yaml_config:
        result.leave(yaml_config, FileOutcome.YOURS, "Fabric reads it instead of fabric.json: add the key below")
        result.add_by_hand.append(f"in {yaml_config}:\ntasks:\n  executor_class: {EXECUTOR}\n")
    elif not (project / "fabric.json").exists():
        result.write("fabric.json", render_fabric_json(), FileOutcome.WROTE)
    else:
        existing = (project / "fabric.json").read_text()
        merged = render_fabric_json(existing)
        if merged is None:
            result.leave("fabric.json", FileOutcome.YOURS, "it sets another executor, or is not JSON: set the key below")
            result.add_by_hand.append(f'in fabric.json:\n{{"tasks": {{"executor_class": "{EXECUTOR}"}}}}\n')
        elif json.loads(merged) == json.loads(existing):
            result.leave("fabric.json", FileOutcome.UNCHANGED)
        else:
            result.write("fabric.json", merged, FileOutcome.UPDATED)

    for scope in (settings.LOCAL, settings.PRODUCTION):
        name = f"{SETTINGS_DIR}/{scope}.env"
        text = render_env(scope, d)
        path = project / name
        if not path.exists():
            result.write(name, text, FileOutcome.WROTE)
        elif path.read_text() == text:
            result.leave(name, FileOutcome.UNCHANGED)
        elif force:
            result.write(name, text, FileOutcome.REWROTE)
        else:
            result.leave(name, FileOutcome.KEPT, "there already, maybe with your edits; --force rewrites it")
    return result


def write_all(project: Path, p: Plan) -> list[Written]:
    for item in p.files:
        if item.text is not None:
            path = project / item.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(item.text)
    return p.files


def next_steps(d: Detected) -> list[str]:
    production = f"{SETTINGS_DIR}/production.env"
    steps = [
        f"pip install composeship in this project's environment, if it is not there yet, and commit tasks.py, fabfile.py, fabric.json and {SETTINGS_DIR}/",
        "inv local.migrate                  # your migrations, in a one-off container of the local stack",
        f"set DEPLOY_PATH (and what else differs) in {production}, or per server in {SETTINGS_DIR}/hosts/HOST.env",
        "fab -H prod setup                  # prod: an ssh_config alias; checks the server, clones, lists what it lacks",
        "fab -H prod deploy",
    ]
    return steps


def describe(d: Detected) -> list[str]:
    """What was detected, a line each."""
    lines = []
    for label, info in (("local", d.local), ("production", d.production)):
        if info is None:
            lines.append(f"{label} compose file: none found (set DEPLOY_COMPOSE_FILE in {SETTINGS_DIR}/{label}.env)")
        elif info.problem:
            lines.append(f"{label} compose file: {info.problem}")
        else:
            extra = [f"django service {info.django}" if info.django else "no django service found"]
            if label == "production":
                if info.proxy:
                    extra.append(f"proxy {info.proxy}")
                if info.healthcheck_path:
                    extra.append(f"healthcheck {info.healthcheck_path}")
            lines.append(f"{label} compose file: {info.file} ({', '.join(extra)})")
    lines.append(f"git origin: {d.repo_url}" if d.repo_url else f"git origin: {'refused: ' + d.repo_url_refused if d.repo_url_refused else 'none'}")
    return lines


def rollout_advice(d: Detected) -> list[str]:
    """What the production stack lacks for a rollout in which no request fails, and what
    composeship does about it by itself."""
    info = d.production
    if info is None or info.problem or not info.django:
        return []
    django, lines = info.django, []
    if info.port is not None:
        lines.append(
            f"{django} publishes port {info.port.port} on the host: only one container can bind it, so each deploy recreates {django} with a short outage; "
            f"put a reverse proxy in front of it and remove its `ports:`"
        )
    if not info.django_has_healthcheck:
        lines.append(
            f"{django} has no healthcheck: composeship asks the app itself, at port 5000 of each new container (DEPLOY_APP_PORT) and the health check URL's path, "
            f"before the old one stops; a healthcheck of your own lets Docker judge it too"
        )
    if info.proxy and "traefik" in info.proxy.lower():
        lines.append(
            "Traefik: give the router that serves django a `retry` middleware (in its file provider's config: http.middlewares.retry.retry.attempts: 3), "
            "so that a request that meets a stopping container is tried again on the new one"
        )
    elif not info.proxy and info.port is None:
        lines.append(f"no reverse proxy found in front of {django}: the way in must find its containers by name (Docker's DNS) and retry a refused connection")
    return lines


def check_project(project: Path) -> None:
    if not project.is_dir():
        raise UsageError(f"{project} is not a folder", "run `composeship init` in your Django project's folder, or pass it")
    names = {path.name for path in project.iterdir()}
    if "manage.py" not in names and not any(re.fullmatch(r"(docker-)?compose.*\.ya?ml|local\.yml|production\.yml", name) for name in names):
        raise UsageError(
            f"{project} has neither manage.py nor a compose file",
            "run `composeship init` in your Django project's folder (the one with manage.py and the compose files)",
        )


def init(project: Path, *, force: bool = False, out=print) -> list[Written]:
    """Detect, write, and say what was written and what comes next."""
    project = project.resolve()
    check_project(project)
    d = detect(project, origin_url(project))
    todo = plan(project, d, force)
    done = write_all(project, todo)
    out(f"composeship init in {project}")
    for line in describe(d):
        out(f"  detected {line}")
    for item in done:
        out(f"  {item.outcome.value:<9} {item.path}" + (f" — {item.note}" if item.note else ""))
    if todo.add_by_hand:
        out("")
        out("Add by hand (composeship never rewrites your own files):")
        for block in todo.add_by_hand:
            first, *rest = block.rstrip("\n").split("\n")
            out(f"  {first}")
            for line in rest:
                out(f"    {line}" if line else "")
    advice = rollout_advice(d)
    if advice:
        out("")
        out("For deploys in which no request fails:")
        for line in advice:
            out(f"  - {line}")
    out("")
    out("Next:")
    for number, step in enumerate(next_steps(d), 1):
        out(f"  {number}. {step}")
    return done

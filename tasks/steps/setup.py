"""`fab -H HOST setup`: a server's first preparation. It checks the tools (Docker, Compose
v2, the user's access to them, git), creates DEPLOY_PATH and clones DEPLOY_REPO_URL
into it when there is no checkout yet, then reads the compose file there and lists
what the server still lacks for a deploy: the env files the services need (which git
does not carry) and free host ports for the published ones. It changes nothing else:
what is missing is listed, never made up."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..commands import git, host
from ..errors import DeployError
from ..executor import Result
from ..facts import compose_file
from ..facts import git as git_facts
from ..facts import host as host_facts
from ..records import short
from ..target import Target
from . import source


@dataclass(frozen=True)
class Missing:
    """One thing the server lacks: what, and what to do about it."""

    what: str
    todo: str

    def __str__(self) -> str:
        return f"{self.what} — {self.todo}"


@dataclass
class Tools:
    user: str = "the deploy user"
    docker: str = ""
    compose: str = ""
    git: bool = False
    checkout: bool = False
    revision: str | None = None
    path_exists: bool = False
    path_empty: bool = False
    missing: list[Missing] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"Docker {self.docker}" if self.docker else "", f"Compose {self.compose}" if self.compose else "", "git" if self.git else "", f"as {self.user}"]
        return ", ".join(p for p in parts if p)


def _failure(t: Target, result: Result) -> Missing:
    problem = t.executor.failure(result, shown=False)
    return Missing(problem.what, problem.todo)


def check_tools(t: Target) -> Tools:
    """One round trip: Docker and Compose usable by the user, git, curl, the folder."""
    read = t.executor.probe_batch(
        {
            "docker": (["docker", "version", "--format", "{{.Server.Version}}"], None),
            "compose": (["docker", "compose", "version", "--short"], None),
            "git": (host.has_program("git"), None),
            "curl": (host.has_program("curl"), None),
            "user": (host.who_am_i(), None),
            "checkout": (host.is_file(f"{t.path}/.git/HEAD"), None),
            "head": (git.head(), t.path),
            "exists": (host.is_dir(t.path), None),
            "empty": (host.is_empty_dir(t.path), None),
            "disk": (host_facts.free_disk_mb(t.path).argv, None),
        }
    )
    docker, compose, git_present, curl, checkout, head, disk = read["docker"], read["compose"], read["git"], read["curl"], read["checkout"], read["head"], read["disk"]
    tools = Tools(user=read["user"].stdout.strip() or "the deploy user")
    if docker.ok:
        tools.docker = docker.stdout.strip()
        if compose.ok:
            tools.compose = compose.stdout.strip().lstrip("v")
        else:
            tools.missing.append(_failure(t, compose))
    else:
        tools.missing.append(_failure(t, docker))
    tools.git = git_present.ok
    if not tools.git:
        tools.missing.append(Missing(f"git is not installed on {t.name}", "install git on the server (e.g. `apt-get install git`)"))
    if t.settings.healthcheck_url and not curl.ok:
        tools.missing.append(Missing(f"curl is not installed on {t.name}", "install curl: the health gate polls DEPLOY_HEALTHCHECK_URL with it"))
    tools.checkout = checkout.ok
    tools.revision = git_facts.parse_revision(head.stdout) if checkout.ok and head.ok else None
    tools.path_exists, tools.path_empty = read["exists"].ok, read["empty"].ok
    if disk.ok:
        free = host_facts.parse_free_mb(disk.stdout)
        if free < t.settings.min_free_disk_mb:
            tools.missing.append(Missing(f"only {free} MiB free for {t.path} on {t.name}", f"free some space, or lower DEPLOY_MIN_FREE_DISK_MB (now {t.settings.min_free_disk_mb})"))
    return tools


@dataclass(frozen=True)
class Checkout:
    """What the checkout step did: `readable` when there is a checkout to read the
    compose file from; `printed` when a dry run printed the clone instead."""

    note: str
    missing: list[Missing] = field(default_factory=list)
    readable: bool = False
    printed: bool = False


def prepare_checkout(t: Target, tools: Tools, ref: str) -> Checkout:
    """Create DEPLOY_PATH and clone DEPLOY_REPO_URL into it at `ref`, unless there is a
    checkout already (left exactly as it is). A repository without a commit is a first
    clone that was stopped half-way: it is finished."""
    if tools.checkout and tools.revision is not None:
        return Checkout(f"checkout at {short(tools.revision)}, left as it is", readable=True)
    if not t.settings.repo_url:
        return Checkout(
            "no checkout",
            [
                Missing(
                    f"{t.path} on {t.name} is not a git checkout, and DEPLOY_REPO_URL is not set",
                    "set DEPLOY_REPO_URL (the URL the server clones from) and run setup again, or clone your project there by hand",
                )
            ],
        )
    if not tools.git:
        return Checkout("no checkout: git is missing")
    if tools.checkout:
        note = f"a first clone stopped half-way (a repository without a commit) finished in {t.path}"
    elif tools.path_exists and not tools.path_empty:
        # Files put there by hand (.env, .envs/) stay: the clone goes around them.
        note = f"cloned into {t.path}, beside the files already there"
    else:
        note = f"cloned into {t.path}"
    made = t.run(host.make_dir(t.path), cwd=None, stream=False, check=False)
    if not made.ok:
        return Checkout(
            "not cloned",
            [
                Missing(
                    f"cannot create {t.path} on {t.name} as {tools.user}: {made.stderr.strip() or made.stdout.strip()}",
                    f"create it as root and hand it over: `sudo install -d -o {tools.user} {t.path}`, then run setup again",
                )
            ],
        )
    try:
        source.init_checkout(t)
        revision = source.fetch(t, ref, checkout_exists=False).revision
        source.checkout(t, revision, ref)
    except DeployError as problem:
        return Checkout("not cloned", [Missing(problem.what, problem.todo or "fix it and run setup again")])
    if made.printed:
        return Checkout(f"would clone into {t.path} at {ref}", printed=True)
    return Checkout(f"{note} at {ref} ({short(revision or ref)})", readable=True)


@dataclass(frozen=True)
class Needs:
    """What the compose file asks of this host, and what of it is there."""

    env_files: dict[str, list[str]]
    present: dict[str, bool]
    ports: list[compose_file.PublishedPort]
    listening: set[int]
    published: dict[int, list[tuple[str, str]]]


def compose_project_name(t: Target) -> str:
    """The compose project's name on the host: DEPLOY_COMPOSE_PROJECT, else Compose's
    own from the folder name (lowercase; letters, digits, `_` and `-` kept)."""
    if t.settings.compose_project:
        return t.settings.compose_project
    name = re.sub(r"[^a-z0-9_-]", "", t.path.rstrip("/").rsplit("/", 1)[-1].lower())
    return name.lstrip("_-")


def read_needs(t: Target) -> Needs | Missing:
    """Two round trips: the compose files, the project's .env and the ports in use; then
    whether each env file the services need exists."""
    names = t.settings.compose_files
    read = t.executor.probe_batch(
        {
            **{("compose file", name): (host.read_file(f"{t.path}/{name}"), None) for name in names},
            ".env": (host.read_file_if_any(f"{t.path}/.env"), None),
            "sockets": (host.listening_sockets(), None),
            "containers": (host.published_by_containers(), None),
        }
    )
    dotenv, sockets, containers = read[".env"], read["sockets"], read["containers"]
    env = compose_file.parse_dotenv(dotenv.stdout if dotenv.ok else "")
    files: dict[str, list[str]] = {}
    ports: list[compose_file.PublishedPort] = []
    for name in names:
        text = read[("compose file", name)]
        if not text.ok:
            return Missing(
                f"the compose file {name} is not in {t.path} on {t.name}",
                "commit it to your repository, or set DEPLOY_COMPOSE_FILE to the file you use",
            )
        try:
            doc = compose_file.parse(text.stdout)
        except ValueError as problem:
            return Missing(f"{name} in {t.path} on {t.name} {problem}", "fix the file in your repository and deploy it")
        for path, services in compose_file.env_files(doc, env).items():
            files.setdefault(path, []).extend(service for service in services if service not in files.get(path, []))
        ports += [port for port in compose_file.published_ports(doc, env) if port not in ports]
    checks = t.executor.probe_batch({path: (host.is_file(f"{t.path}/{path}"), None) for path in files}) if files else {}
    return Needs(
        env_files=files,
        present={path: checks[path].ok for path in files},
        ports=ports,
        listening=host_facts.parse_listening_ports(sockets.stdout) if sockets.ok else set(),
        published=host_facts.parse_published(containers.stdout) if containers.ok else {},
    )


def judge_needs(t: Target, needs: Needs) -> list[Missing]:
    """What of the compose file's needs the host lacks: each missing env file, each
    published port that something other than this project holds."""
    missing = []
    for path, services in needs.env_files.items():
        if not needs.present[path]:
            missing.append(
                Missing(
                    f"{path} is missing in {t.path} on {t.name} (env_file of {', '.join(services)})",
                    "create it there (it holds settings and secrets git does not carry; e.g. `scp` it from your machine)",
                )
            )
    project = compose_project_name(t)
    for port in needs.ports:
        holders = needs.published.get(port.port, [])
        others = [name for owner, name in holders if owner != project]
        if holders and not others:
            continue  # this project's own running containers
        if not holders and port.port not in needs.listening:
            continue
        where = f"container {', '.join(others)}" if others else "another program"
        change = f"set {port.variable} in {t.path}/.env to a free port" if port.variable else "publish another port in the compose file"
        missing.append(Missing(f"port {port.port} (published by {port.service}) is in use on {t.name} by {where}", f"free it, or {change}"))
    return missing


def describe_needs(needs: Needs) -> str:
    files = f"{len(needs.env_files)} env file(s)" if needs.env_files else "no env files"
    ports = ", ".join(sorted({str(p.port) for p in needs.ports}, key=int)) or "none"
    return f"{files}, published ports: {ports}"

"""Configuration: read once, validated whole, before anything connects or runs.

Sources, later ones winning: `local.env` (local tasks) or `production.env` then
`hosts/<host>.env` (server tasks) in the settings folder, then real environment
variables. The settings folder is `DEPLOY_CONFIG_DIR` when set, else the `.composeship/`
folder that `composeship init` wrote in the project (found from the current folder
upwards), else, run from composeship's own checkout, its `config/`. Every error names
the key and where its value came from.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from dotenv import dotenv_values

from .errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
# Run from composeship's checkout, this module is `tasks.settings` and the checkout's
# config/ is the fallback; installed, it is `composeship.settings` and only a
# project's own settings folder counts.
FROM_CHECKOUT = __name__.split(".")[0] == "tasks"
# The settings folder `composeship init` writes in a project (cookiecutter-django's
# own `config/` is its Django settings package).
PROJECT_CONFIG_DIR = ".composeship"
LOCAL = "local"
PRODUCTION = "production"

SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Conservative on purpose: a ref is passed to git on a remote shell, so anything
# beyond what branch, tag and commit names need is refused up front.
GIT_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/+-]*$")
HOST_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@:-]*$")
UNSAFE_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Key:
    name: str
    help: str
    parse: Callable[[str], object]
    local_default: object = None
    production_default: object = None
    required_in: tuple[str, ...] = ()
    # How a bad value is quoted in an error: URLs may carry credentials.
    shown: Callable[[str], str] = lambda value: value

    def default(self, scope: str) -> object:
        return self.local_default if scope == LOCAL else self.production_default


def _text(value: str) -> str:
    if UNSAFE_PATH_CHARS.search(value):
        raise ValueError("contains control characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("is not valid UTF-8 text") from None
    return value


def _service(value: str) -> str:
    if not SERVICE_NAME.fullmatch(value):
        raise ValueError("is not a service name (letters, digits, '_', '.', '-')")
    return value


def _service_list(value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    for name in names:
        _service(name)
    return names


def _compose_file(value: str) -> str:
    """One compose file, or several separated by `:` as in Compose's COMPOSE_FILE (the
    production file, then an override), each relative to the project folder."""
    _text(value)
    for part in value.split(":"):
        if part.startswith("-") or not part.strip():
            raise ValueError("is not a file name, or a list of them separated by `:`")
    return value


def _on_one_line(value: str) -> str:
    """A bad value as an error quotes it: control characters (a line break or a carriage
    return read from a file) escaped, so that the error stays one line."""
    return value if value.isprintable() else repr(value)[1:-1]


def _absolute_path(value: str) -> str:
    _text(value)
    if not value.startswith("/"):
        raise ValueError("is not an absolute path")
    return value.rstrip("/") or "/"


def _ref(value: str) -> str:
    return validate_ref(value)


# Keys whose value is a shell command run on the server: `${...}` there is the shell's.
SHELL_COMMAND_KEYS = frozenset({"DEPLOY_ROLLOUT_DRAIN_COMMAND"})


class SecretInValue(ValueError):
    """A value that carries a credential: refused, and never echoed."""


# git's `transport::address` (`https::https://...`, `ext::...`): the address after it.
_TRANSPORT_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
# Query parameters that carry a credential (GitLab's private_token, access_token, ...).
# A parameter whose name is, or ends in, one of these words (`private_token`, `api_key`, `X-Amz-Signature`).
_SECRET_PARAMETER = re.compile(r"(^|[?&;])(?:[A-Za-z0-9]+[_-])*(token|password|passwd|pwd|secret|key|apikey|auth|signature|sig)=", re.IGNORECASE)


def _address(value: str) -> str:
    while _TRANSPORT_PREFIX.match(value):
        value = value.split("::", 1)[1]
    return value


def credentials_in(value: str) -> bool:
    """Does the URL carry a credential, in any of its forms: a password (`user:pw@`), a
    user or token before the @ of an http(s) or ftp URL, a secret in the query or the
    fragment; behind git's `transport::` prefix too, and in scp-like `user:pw@host:path`."""
    address = _address(value)
    try:
        parts = urlsplit(address)
    except ValueError:
        return True  # cannot tell: treated as the worst case
    if parts.scheme and parts.netloc:
        if parts.password:
            return True
        if parts.username and parts.scheme.lower() in ("http", "https", "ftp", "ftps"):
            return True
        return bool(_SECRET_PARAMETER.search(parts.query) or _SECRET_PARAMETER.search(parts.fragment))
    userinfo = address.split("/", 1)[0]
    if "@" in userinfo and ":" in userinfo.rsplit("@", 1)[0]:
        return True  # scp-like, a password beside the user
    return "?" in address and bool(_SECRET_PARAMETER.search(address.split("?", 1)[1]))


def redact_url(value: str) -> str:
    """The URL without what may be a secret: user and password, query, fragment."""
    prefix = value[: len(value) - len(_address(value))]
    address = _address(value)
    try:
        parts = urlsplit(address)
    except ValueError:
        return "(not shown)"
    if not parts.scheme or not parts.netloc:
        if credentials_in(value) or "?" in address:
            return "(not shown)"
        return value
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    userinfo = "***@" if (parts.username or parts.password) else ""
    return f"{prefix}{parts.scheme}://{userinfo}{host}{parts.path}" + ("?***" if parts.query else "") + ("#***" if parts.fragment else "")


SECRET_REFUSAL = "has credentials in it (a password, a token, or a user before the @ of an http URL), which would show in output, logs and the server's process list"


def _repo_url(value: str) -> str:
    _text(value)
    if credentials_in(value):
        raise SecretInValue(SECRET_REFUSAL)
    return value


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or UNSAFE_PATH_CHARS.search(value):
        raise ValueError("is not an http:// or https:// URL")
    if credentials_in(value):
        raise SecretInValue(SECRET_REFUSAL)
    return _text(value)


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"is not one of {', '.join(choices)}")
        return value

    return parse


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError("is not a whole number") from None
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


def _port(value: str) -> int:
    number = _positive_int(value)
    if number > 65535:
        raise ValueError("is not a port (1-65535)")
    return number


def _in_sentence(text: str) -> str:
    """`text` continuing a sentence: its first word lowercased, unless it is a name
    with capitals inside (PostgreSQL, URL)."""
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first[1:].islower() else text


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("is not a number of seconds") from None
    if not 0 <= number <= 600:
        raise ValueError("must be between 0 and 600")
    return number


PG_DURATION = re.compile(r"^(?P<number>[0-9]{1,9})(?P<unit>us|ms|s|min|h|d)?$")


def _pg_duration(value: str) -> str | None:
    """A PostgreSQL duration for `lock_timeout` (`5s`, `500ms`, `1min`); 0 sets none."""
    found = PG_DURATION.fullmatch(value)
    if not found:
        raise ValueError("is not a PostgreSQL duration such as 5s, 500ms or 1min (0: no limit)")
    return None if int(found["number"]) == 0 else value


def _host(value: str) -> str:
    if not HOST_NAME.fullmatch(value) or "/" in value:
        raise ValueError("is not an ssh_config alias or host name")
    return value


def _host_list(value: str) -> tuple[str, ...]:
    return tuple(_host(part.strip()) for part in value.split(",") if part.strip())


def _registry(value: str) -> str:
    """host:port (or a host name) of an image registry: no scheme, path or credentials."""
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?", value):
        raise ValueError("is not a registry address (host or host:port, for example 127.0.0.1:5000)")
    return value


def _project_name(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", value):
        raise ValueError("is not a compose project name (lowercase letters, digits, '_', '-')")
    return value


KEYS: tuple[Key, ...] = (
    Key("DEPLOY_PROJECT_DIR", "The local project folder (holds the compose files and manage.py).", _text, required_in=(LOCAL,)),
    Key(
        "DEPLOY_COMPOSE_FILE",
        "Compose file, relative to the project folder; several separated by `:` (as Compose's COMPOSE_FILE), later ones overriding earlier ones.",
        _compose_file,
        "docker-compose.local.yml",
        "docker-compose.production.yml",
    ),
    Key("DEPLOY_COMPOSE_PROJECT", "Compose project name (`docker compose -p`); default: Compose's own (the folder name). On a swarm: the stack's name.", _project_name),
    Key(
        "DEPLOY_ENGINE",
        "What runs the services on the server: compose (Docker Compose on each host) or swarm (a Docker Swarm stack, deployed from its manager; see README).",
        _choice("compose", "swarm"),
        "compose",
        "compose",
    ),
    Key(
        "DEPLOY_REGISTRY",
        "On a swarm: the image registry (host:port) the manager pushes each release's images to, and every node pulls them from, by digest; unset: the manager's own images (one node only).",
        _registry,
    ),
    Key("DEPLOY_DJANGO_SERVICE", "The compose service that runs Django and manage.py.", _service, "django", "django"),
    Key("DEPLOY_PATH", "The project folder on the server (a git checkout).", _absolute_path, required_in=(PRODUCTION,)),
    Key(
        "DEPLOY_REPO_URL",
        "Git URL the server clones from on the first deploy, without credentials (the server authenticates itself: a deploy key, or git's credential helper).",
        _repo_url,
        shown=redact_url,
    ),
    Key("DEPLOY_REF", "Branch, tag or commit to deploy.", _ref, "main", "main"),
    Key(
        "DEPLOY_RESTART_ORDER",
        "Services restarted first, in this order; other services of the compose file follow, listed ones the file lacks are skipped.",
        _service_list,
        ("django", "celeryworker", "celerybeat", "flower"),
        ("django", "celeryworker", "celerybeat", "flower"),
    ),
    Key(
        "DEPLOY_SINGLETON_SERVICES",
        "Services of which two must never run at once (a scheduler): recreated in place instead of rolled out.",
        _service_list,
        ("celerybeat",),
        ("celerybeat",),
    ),
    Key(
        "DEPLOY_WEB_SERVICES",
        "Services the proxy sends requests to (default: the django service): a new container of one without a healthcheck is ready only once the app answers in it.",
        _service_list,
        (),
        (),
    ),
    Key(
        "DEPLOY_APP_PORT",
        "The port the app listens on inside its container (cookiecutter-django's gunicorn: 5000), asked for the health check's path on a new container without a healthcheck.",
        _port,
        5000,
        5000,
    ),
    Key(
        "DEPLOY_ROLLOUT_SETTLE",
        "Seconds from the new containers' start (or from the drain) until the old ones are stopped, so that the proxy learns of the new ones first (nginx: at least its resolver's `valid=`).",
        _seconds,
        2.0,
        2.0,
    ),
    Key(
        "DEPLOY_ROLLOUT_DRAIN_COMMAND",
        "For a proxy that routes by Docker health (Traefik): a shell command run in each old container before it is stopped "
        "that makes its healthcheck fail; composeship then waits until Docker reports it unhealthy.",
        _text,
    ),
    Key("DEPLOY_HEALTHCHECK_URL", "URL polled from the server after a restart; a 2xx answer means healthy.", _url, shown=redact_url),
    Key("DEPLOY_HEALTHCHECK_TIMEOUT", "Seconds the health gate waits for a 2xx answer.", _positive_int, 60, 60),
    Key(
        "DEPLOY_BACKUP",
        "Database backup before migrating: auto (when migrations are pending and postgres has a backup command), always, never.",
        _choice("auto", "always", "never"),
        "auto",
        "auto",
    ),
    Key(
        "DEPLOY_MIGRATION_LOCK_TIMEOUT",
        "PostgreSQL lock_timeout of the migrations (5s, 500ms, 1min; 0: no limit): a migration waiting longer for a lock "
        "that another session holds fails, instead of making every query of the site queue behind it.",
        _pg_duration,
        "5s",
        "5s",
    ),
    Key("DEPLOY_CONNECT_TIMEOUT", "Seconds to wait for an SSH connection (and for each ProxyJump hop to open a channel onward).", _positive_int, 10, 10),
    Key("DEPLOY_HOOK_TIMEOUT", "Seconds a hook (config/hooks/*) may run before it is killed and counts as failed.", _positive_int, 300, 300),
    Key("DEPLOY_HOSTS", "Servers to deploy to when no -H is given, comma-separated ssh_config aliases or host names.", _host_list, (), ()),
    Key("DEPLOY_PRIMARY", "The host that runs the migrations of a many-host deploy (default: the first host).", _host),
    Key("DEPLOY_KEEP_RELEASES", "Release images kept on each server after a deploy; older ones are removed.", _positive_int, 5, 5),
    Key("DEPLOY_MIN_FREE_DISK_MB", "Preflight fails when the server's DEPLOY_PATH disk has less free space (MiB).", _positive_int, 1024, 1024),
)
KEYS_BY_NAME = {key.name: key for key in KEYS}
# Read from the environment only: it says where the files are.
CONFIG_DIR_KEY = "DEPLOY_CONFIG_DIR"
# Set for hooks (config/hooks/*), not settings: a hook that runs composeship again
# passes them on without tripping the unknown-key check.
HOOK_VARIABLES = frozenset({"DEPLOY_HOOK", "DEPLOY_REVISION", "DEPLOY_PREVIOUS_REVISION", "DEPLOY_RESULT"})


def validate_ref(value: str) -> str:
    if not GIT_REF.fullmatch(value) or ".." in value or value.endswith((".lock", "/", ".")) or "//" in value:
        raise ValueError("is not a branch, tag or commit name (letters, digits and . _ / + - only)")
    return value


def validate_service(value: str) -> str:
    return _service(value)


@dataclass(frozen=True)
class Settings:
    scope: str
    project_dir: Path | None
    compose_file: str
    compose_project: str | None
    django_service: str
    path: str | None
    repo_url: str | None
    ref: str
    restart_order: tuple[str, ...]
    singleton_services: tuple[str, ...]
    web_services: tuple[str, ...]
    app_port: int
    rollout_settle: float
    rollout_drain_command: str | None
    healthcheck_url: str | None
    healthcheck_timeout: int
    backup: str
    migration_lock_timeout: str | None
    connect_timeout: int
    min_free_disk_mb: int
    hosts: tuple[str, ...]
    primary: str | None
    keep_releases: int
    hook_timeout: int = 300
    engine: str = "compose"
    registry: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def source_of(self, key: str) -> str:
        return self.sources.get(key, "default")

    @property
    def compose_files(self) -> tuple[str, ...]:
        return tuple(self.compose_file.split(":"))

    @property
    def compose_command(self) -> str:
        """`docker compose` with the project's files, as a person types it (for messages)."""
        return "docker compose " + " ".join(f"-f {name}" for name in self.compose_files)


def find_project_config(start: Path) -> Path | None:
    """The `.composeship/` folder in `start` or the nearest folder above it, not looking
    past the top of a git work tree (a folder holding `.git`)."""
    for folder in (start, *start.parents):
        if (folder / PROJECT_CONFIG_DIR).is_dir():
            return folder / PROJECT_CONFIG_DIR
        if (folder / ".git").exists():
            return None
    return None


def config_dir(environ: Mapping[str, str] | None = None, cwd: Path | None = None, *, from_checkout: bool | None = None) -> Path:
    """DEPLOY_CONFIG_DIR, else the project's `.composeship/` (from `cwd` up), else the
    checkout's config/ (run from the checkout), else `cwd/.composeship` (not there yet)."""
    environ = os.environ if environ is None else environ
    configured = environ.get(CONFIG_DIR_KEY)
    if configured:
        return Path(configured).expanduser().resolve()
    here = (cwd or Path.cwd()).resolve()
    found = find_project_config(here)
    if found:
        return found
    return REPO_ROOT / "config" if (FROM_CHECKOUT if from_checkout is None else from_checkout) else here / PROJECT_CONFIG_DIR


def is_project_config(folder: Path) -> bool:
    """A settings folder written by `composeship init`: its project is the folder above."""
    return folder.name == PROJECT_CONFIG_DIR


def _key_list(folder: Path) -> str:
    """Where every key is listed, for a misspelt one."""
    if is_project_config(folder):
        return f"the keys listed in {_display(folder)}/local.env and production.env (`composeship init` writes them all)"
    return "config/*.env.example"


def config_files(scope: str, host: str | None, folder: Path) -> list[Path]:
    if scope == LOCAL:
        return [folder / "local.env"]
    files = [folder / "production.env"]
    if host:
        if not HOST_NAME.fullmatch(host) or "/" in host:
            raise ConfigError(f"host name {host!r} cannot name a config file", "use a plain ssh_config alias or host name with -H")
        files.append(folder / "hosts" / f"{host}.env")
    return files


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load(scope: str, host: str | None = None, environ: Mapping[str, str] | None = None, *, require: bool = True, cwd: Path | None = None) -> Settings:
    """Merge files and environment for `scope`, validate every key, or raise ConfigError."""
    environ = os.environ if environ is None else environ
    folder = config_dir(environ, cwd)
    if CONFIG_DIR_KEY in environ and not folder.is_dir():
        raise ConfigError(f"{CONFIG_DIR_KEY}={environ[CONFIG_DIR_KEY]} is not a folder", "point it at a folder holding local.env or production.env")

    raw: dict[str, str] = {}
    sources: dict[str, str] = {}
    base_dirs: dict[str, Path] = {}
    for path in config_files(scope, host, folder):
        if not path.is_file():
            continue
        # Read as written: python-dotenv would fill `${VAR}` from the deployer's own
        # environment (DEPLOY_PATH=/srv/${APP} with APP unset becoming /srv).
        for name, value in dotenv_values(path, interpolate=False).items():
            where = _display(path)
            if name not in KEYS_BY_NAME:
                hint = f"check the spelling against {_key_list(folder)}" if name.startswith("DEPLOY_") else "config files hold DEPLOY_* keys only; set other variables elsewhere"
                raise ConfigError(f"unknown key {name} in {where}", hint)
            if value is None:
                raise ConfigError(f"{name} in {where} has no value", f"write it as {name}=VALUE or remove the line")
            if "${" in value and name not in SHELL_COMMAND_KEYS:
                raise ConfigError(
                    f"{name} in {where} holds a ${{...}}: settings files are not interpolated (it would mean your own machine's environment)",
                    f"write the value itself, or set {name} in the environment when you run the task",
                )
            raw[name], sources[name], base_dirs[name] = value, where, path.parent
    for name, value in environ.items():
        if not name.startswith("DEPLOY_") or name == CONFIG_DIR_KEY or name in HOOK_VARIABLES:
            continue
        if name not in KEYS_BY_NAME:
            raise ConfigError(f"unknown environment variable {name}", f"check the spelling against {_key_list(folder)}, or unset it")
        raw[name], sources[name], base_dirs[name] = value, "environment", Path.cwd()

    values: dict[str, object] = {}
    for key in KEYS:
        if key.name in raw and raw[key.name].strip() != "":
            try:
                values[key.name] = key.parse(raw[key.name].strip())
            except SecretInValue as problem:
                access = (
                    "give the server its own access to the repository (an SSH deploy key with an "
                    "ssh:// or git@host:path URL, or git's credential helper on the server: `git config --global credential.helper store`)"
                    if key.name == "DEPLOY_REPO_URL"
                    else "poll a health page that answers without a login (the server asks for it itself, on its own address)"
                )
                raise ConfigError(f"{key.name}={_on_one_line(key.shown(raw[key.name]))} (from {sources[key.name]}) {problem}", f"remove them from {key.name}: {access}") from None
            except ValueError as problem:
                raise ConfigError(
                    f"{key.name}={_on_one_line(key.shown(raw[key.name]))} (from {sources[key.name]}) {problem}",
                    f"fix {key.name}: {_in_sentence(key.help)}",
                ) from None
        else:
            values[key.name] = key.default(scope)
            # A project's settings folder stands for its project: DEPLOY_PROJECT_DIR is the folder above.
            if key.name == "DEPLOY_PROJECT_DIR" and is_project_config(folder) and folder.is_dir():
                values[key.name], sources[key.name], base_dirs[key.name] = "..", f"default (the folder holding {PROJECT_CONFIG_DIR}/)", folder
            elif require and scope in key.required_in:
                if not folder.is_dir():
                    raise ConfigError(
                        f"{key.name} is not set, and there is no settings folder ({_display(folder)})",
                        f"run `composeship init` in your project's folder, or set {key.name} in the environment ({key.help})",
                    )
                where = " or ".join(_display(p) for p in config_files(scope, host, folder))
                raise ConfigError(f"{key.name} is not set", f"set it in {where} or in the environment ({key.help})")

    project_dir = None
    if values["DEPLOY_PROJECT_DIR"]:
        project_dir = (base_dirs["DEPLOY_PROJECT_DIR"] / Path(str(values["DEPLOY_PROJECT_DIR"])).expanduser()).resolve()
        if scope == LOCAL and not project_dir.is_dir():
            raise ConfigError(
                f"DEPLOY_PROJECT_DIR={raw['DEPLOY_PROJECT_DIR']} (from {sources['DEPLOY_PROJECT_DIR']}) is not a folder",
                "point it at your Django project (the folder with manage.py and the compose files)",
            )

    return Settings(
        scope=scope,
        project_dir=project_dir,
        compose_file=values["DEPLOY_COMPOSE_FILE"],
        compose_project=values["DEPLOY_COMPOSE_PROJECT"],
        django_service=values["DEPLOY_DJANGO_SERVICE"],
        path=values["DEPLOY_PATH"],
        repo_url=values["DEPLOY_REPO_URL"],
        ref=values["DEPLOY_REF"],
        restart_order=values["DEPLOY_RESTART_ORDER"],
        singleton_services=values["DEPLOY_SINGLETON_SERVICES"],
        web_services=values["DEPLOY_WEB_SERVICES"] or (values["DEPLOY_DJANGO_SERVICE"],),
        app_port=values["DEPLOY_APP_PORT"],
        rollout_settle=values["DEPLOY_ROLLOUT_SETTLE"],
        rollout_drain_command=values["DEPLOY_ROLLOUT_DRAIN_COMMAND"],
        healthcheck_url=values["DEPLOY_HEALTHCHECK_URL"],
        healthcheck_timeout=values["DEPLOY_HEALTHCHECK_TIMEOUT"],
        backup=values["DEPLOY_BACKUP"],
        migration_lock_timeout=values["DEPLOY_MIGRATION_LOCK_TIMEOUT"],
        connect_timeout=values["DEPLOY_CONNECT_TIMEOUT"],
        hook_timeout=values["DEPLOY_HOOK_TIMEOUT"],
        engine=values["DEPLOY_ENGINE"],
        registry=values["DEPLOY_REGISTRY"],
        min_free_disk_mb=values["DEPLOY_MIN_FREE_DISK_MB"],
        hosts=values["DEPLOY_HOSTS"],
        primary=values["DEPLOY_PRIMARY"],
        keep_releases=values["DEPLOY_KEEP_RELEASES"],
        sources=sources,
    )

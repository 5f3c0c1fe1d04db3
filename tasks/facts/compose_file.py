"""A compose file read as text: its services, what they need from the host they run on
(env files, published ports), and what `composeship init` can tell from it (the
django service, a reverse proxy, the health check URL). Pure functions on the file's
text: nothing here runs Compose, so a file whose env files are missing (a server
before its first deploy) can still be read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

import yaml


class _Loader(yaml.SafeLoader):
    """YAML as Compose writes it: merge keys (`<<: *django`) and Compose's own tags
    (`!reset`, `!override`), whose values are kept as they are."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_Loader.add_multi_constructor("!", _any_tag)


def parse(text: str) -> dict:
    """The compose file as a mapping; ValueError when it is not YAML or not a mapping."""
    try:
        doc = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ValueError(f"is not valid YAML{where}") from None
    if not isinstance(doc, dict):
        raise ValueError("is not a compose file (no mapping at the top)")
    return doc


def services(doc: Mapping) -> dict[str, dict]:
    found = doc.get("services") or {}
    return {str(name): (spec if isinstance(spec, dict) else {}) for name, spec in found.items()} if isinstance(found, dict) else {}


_VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `$VAR`
    and `$$`, from `env` (the project's .env). A variable that is required (`:?`) and
    unset becomes empty here; Compose itself would refuse the file."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match["braced"] or match["plain"]
        op, arg = match["op"], match["arg"] or ""
        value = env.get(name)
        if op in (":-", "-"):
            return value if value is not None and (value != "" or op == "-") else arg
        if op in (":+", "+"):
            return arg if value is not None and (value != "" or op == "+") else ""
        return value or ""

    return _VARIABLE.sub(replace, value)


def variables(value: str) -> list[str]:
    """The variables a value reads, in order."""
    return [m["braced"] or m["plain"] for m in _VARIABLE.finditer(value) if m.group(0) != "$$"]


def parse_dotenv(text: str) -> dict[str, str]:
    """A project's .env as Compose reads it for interpolation: KEY=VALUE lines, `#`
    comments, optional `export`, quotes stripped."""
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        found[name.strip()] = value
    return found


def _relative(path: str) -> str:
    path = path.strip()
    while path.startswith("./"):
        path = path[2:]
    return path


def env_files(doc: Mapping, env: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Each env file the services need (relative to the project folder, as written) ->
    the services that need it. Entries marked `required: false` are left out."""
    env = env or {}
    needed: dict[str, list[str]] = {}
    for name, spec in services(doc).items():
        entries = spec.get("env_file") or []
        for entry in [entries] if isinstance(entries, (str, dict)) else entries:
            if isinstance(entry, dict):
                if entry.get("required") is False or str(entry.get("required")).lower() == "false":
                    continue
                entry = entry.get("path", "")
            path = _relative(interpolate(str(entry), env))
            if path:
                needed.setdefault(path, []).append(name)
    return needed


@dataclass(frozen=True)
class PublishedPort:
    service: str
    port: int
    protocol: str = "tcp"
    host_ip: str = ""
    # The variable the host port is read from (`${DJANGO_PUBLISHED_PORT:-8000}`), if any.
    variable: str = ""


_SHORT_PORT = re.compile(r"^(?:(?P<ip>\[[^\]]*\]|[0-9.]+|[^:]*?):)??(?:(?P<host>[0-9]+(?:-[0-9]+)?):)?(?P<container>[0-9]+(?:-[0-9]+)?)(?:/(?P<proto>tcp|udp|sctp))?$")


def published_ports(doc: Mapping, env: Mapping[str, str] | None = None) -> list[PublishedPort]:
    """The host ports the services publish (short and long syntax, variables resolved
    from `env`). Ports Docker picks itself (`"5000"`, no host side) are left out; a
    range gives each of its ports."""
    env = env or {}
    found = []
    for name, spec in services(doc).items():
        for entry in spec.get("ports") or []:
            if isinstance(entry, dict):
                raw_host = str(entry.get("published", "") or "")
                host_ip, proto = str(entry.get("host_ip", "") or ""), str(entry.get("protocol", "tcp") or "tcp")
                host = interpolate(raw_host, env)
            else:
                raw_host = str(entry)
                match = _SHORT_PORT.match(interpolate(raw_host, env).strip())
                if not match:
                    continue
                host, host_ip, proto = match["host"] or "", (match["ip"] or "").strip("[]"), match["proto"] or "tcp"
            if not host:
                continue
            first, _, last = host.partition("-")
            if not first.isdigit() or (last and not last.isdigit()):
                continue
            named = variables(raw_host)
            for port in range(int(first), int(last or first) + 1):
                found.append(PublishedPort(name, port, proto, host_ip, named[0] if named else ""))
    return found


_URL_IN_TEXT = re.compile(r"https?://[^\s'\"\]\)]+")


def healthcheck_url(spec: Mapping) -> str | None:
    """The URL a service's healthcheck fetches, if its test names one."""
    test = (spec.get("healthcheck") or {}).get("test") if isinstance(spec.get("healthcheck"), dict) else None
    text = " ".join(str(part) for part in test) if isinstance(test, list) else str(test or "")
    found = _URL_IN_TEXT.search(text)
    return found.group(0) if found else None


_REQUEST_IN_TEXT = re.compile(r"\b(?:GET|HEAD) (/[^\s'\"\\]*)")


def healthcheck_path(spec: Mapping) -> str | None:
    """The path a service's healthcheck fetches (`/health/`), if any: of the URL it
    names, or of the request it writes itself (`GET /health/ HTTP/1.0`, through
    bash's /dev/tcp)."""
    url = healthcheck_url(spec)
    if url:
        path = urlsplit(url).path
    else:
        test = (spec.get("healthcheck") or {}).get("test") if isinstance(spec.get("healthcheck"), dict) else None
        found = _REQUEST_IN_TEXT.search(" ".join(str(part) for part in test) if isinstance(test, list) else str(test or ""))
        path = found.group(1) if found else ""
    return path if path and path != "/" else None


_DJANGO_COMMAND = re.compile(r"manage\.py|gunicorn|uvicorn|daphne|runserver|(^|/)start$")
_NOT_DJANGO = re.compile(r"celery|worker|beat|flower|postgres|redis|traefik|nginx|mailpit|mailhog|node|docs")


def _command_text(spec: Mapping) -> str:
    command = spec.get("command") or ""
    return " ".join(str(part) for part in command) if isinstance(command, list) else str(command)


def django_service(doc: Mapping) -> str | None:
    """The service that runs Django: `django` when there is one (cookiecutter-django),
    else the one whose command serves Django (runserver, gunicorn, /start, ...)."""
    found = services(doc)
    if "django" in found:
        return "django"
    for name, spec in found.items():
        if _NOT_DJANGO.search(name):
            continue
        if _DJANGO_COMMAND.search(_command_text(spec).strip()):
            return name
    for name in ("web", "app", "backend", "api"):
        if name in found:
            return name
    return None


PROXIES = ("traefik", "caddy", "haproxy", "nginx")


def _mentions(spec: Mapping) -> str:
    build = spec.get("build")
    build_text = " ".join(str(v) for v in build.values()) if isinstance(build, dict) else str(build or "")
    return f"{spec.get('image', '')} {build_text}".lower()


def proxy_service(doc: Mapping) -> str | None:
    """A reverse proxy in front of Django (traefik first: cookiecutter-django's nginx
    only serves media files behind it)."""
    found = services(doc)
    for proxy in PROXIES:
        for name, spec in found.items():
            if proxy in name.lower() or proxy in _mentions(spec):
                return name
    return None


def services_sharing_build(doc: Mapping, service: str) -> list[str]:
    """The services built like `service` (cookiecutter's celeryworker, celerybeat and
    flower share django's build), `service` first."""
    found = services(doc)
    build = found.get(service, {}).get("build")
    if not build:
        return [service] if service in found else []
    return [service] + [name for name, spec in found.items() if name != service and spec.get("build") == build]

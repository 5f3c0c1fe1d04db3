"""Shared pieces of the end-to-end tests: the real commands a user types, and what
the user would check afterwards (the database, the containers, the web page)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OWN_TRACEBACK = re.compile(r'File "[^"]*(/tasks/|/fabfile\.py|site-packages/(invoke|fabric|paramiko|composeship)/)')
EXAMPLE = REPO / "example"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environ(**extra: str) -> dict[str, str]:
    """The caller's environment without DEPLOY_* keys, plus `extra`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOY_") and k != "COMPOSESHIP_TRACEBACK"}
    environ.update(extra)
    return environ


def tool(name: str, *args: str, env: dict[str, str], timeout: int = 900, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run `inv` or `fab` from the repository root, as a user would."""
    return subprocess.run([str(BIN / name), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def copy_example(destination: Path) -> Path:
    shutil.copytree(EXAMPLE, destination, ignore=shutil.ignore_patterns("__pycache__", ".env", ".git"))
    return destination


def add_field(project: Path, line: str) -> None:
    """Add a field line to the example's Note model."""
    models = project / "notes" / "models.py"
    text = models.read_text()
    anchor = "    created = models.DateTimeField(auto_now_add=True)\n"
    assert anchor in text
    models.write_text(text.replace(anchor, anchor + f"    {line}\n"))


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def docker_environ(docker_host: str = "") -> dict[str, str] | None:
    """The environment for `docker` against another engine of this machine (None: the main one)."""
    return {**os.environ, "DOCKER_HOST": docker_host} if docker_host else None


@dataclass
class Stack:
    """A compose project on one of this machine's engines, as the tests inspect it."""

    folder: Path
    name: str
    compose_file: str
    docker_host: str = ""  # "": the main engine

    def docker(self, *args: str, check: bool = False, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout, stdin=subprocess.DEVNULL, env=docker_environ(self.docker_host))

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker", "compose", "-p", self.name, "-f", self.compose_file, *args],
            cwd=self.folder,
            capture_output=True,
            text=True,
            check=check,
            timeout=600,
            stdin=subprocess.DEVNULL,
            env=docker_environ(self.docker_host),
        )

    def sql(self, query: str) -> list[str]:
        script = 'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "$0"'
        result = self.compose("exec", "-T", "postgres", "sh", "-c", script, query)
        return [line for line in result.stdout.splitlines() if line]

    def applied_migrations(self) -> set[str]:
        return set(self.sql("select app || '.' || name from django_migrations"))

    def containers(self) -> list[str]:
        return self.docker("ps", "-a", "--filter", f"label=com.docker.compose.project={self.name}", "--format", "{{.Names}}", check=True).stdout.split()

    def started_at(self, service: str) -> str:
        container = self.compose("ps", "-q", service).stdout.strip()
        return self.docker("inspect", "-f", "{{.State.StartedAt}}", container, check=True).stdout.strip()

    def destroy(self) -> None:
        # By project name alone: works whatever compose file the project used, or none left.
        self.docker("compose", "-p", self.name, "down", "-v", "--remove-orphans", "--timeout", "2", timeout=300)


def assert_one_error_line(result: subprocess.CompletedProcess, *words: str, alone: bool = True) -> str:
    """The run failed with one `error:` line (the last one) and no traceback. `alone`:
    nothing else was printed to stderr, i.e. the failure came before any command ran."""
    assert result.returncode != 0, result.stdout + result.stderr
    # A failing command's own output may hold a traceback (a migration's); composeship's may not.
    assert not OWN_TRACEBACK.search(result.stdout + result.stderr), result.stdout + result.stderr
    if alone:
        assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert sum(line.startswith("error: ") for line in lines) == 1, result.stderr
    if alone:
        assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[-1], lines[-1]
    return lines[-1]

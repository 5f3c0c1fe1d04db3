"""The sandbox host for the remote tests: a real sshd with a deploy user (scripts/sandbox),
a bare git origin of the example project owned by that user, and a DEPLOY_PATH and
compose project of the test's own."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .helpers import REPO, Stack, clean_environ, copy_example, free_port, http_get, tool

MIGRATION_0002 = """from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("notes", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="note",
            name="body",
            # Nullable: the old release keeps inserting notes without it (a NOT NULL
            # column would be refused as unsafe while the old code serves).
            field=models.TextField(blank=True, null=True),
        ),
    ]
"""

BROKEN_MIGRATION_0002 = """from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("notes", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL("UPDATE table_that_does_not_exist SET x = 1"),
    ]
"""


def sandbox_user() -> str:
    """The deploy user of this test process's sandbox hosts: one per pytest-xdist worker,
    so that what a test does to its user's processes (a fault drill's `pkill`) never
    reaches another worker's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"deploy-{worker}" if worker else "deploy"


def sandbox_up(folder: Path, name: str, docker_host: str = "") -> dict:
    argv = [str(REPO / "scripts" / "sandbox"), "up", "--dir", str(folder), "--name", name, "--user", sandbox_user()]
    result = subprocess.run(argv + (["--docker-host", docker_host] if docker_host else []), capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"scripts/sandbox up failed: {result.stderr}")
    return json.loads(result.stdout)


def engine(command: str, name: str, index: int, timeout: float = 300) -> dict:
    """Another Docker Engine of this machine, in its own network namespace (scripts/engine)."""
    result = subprocess.run([str(REPO / "scripts" / "engine"), command, "--name", name, "--index", str(index)], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"scripts/engine {command} failed: {result.stderr.strip()}")
    return json.loads(result.stdout) if result.stdout.strip() else {}


def sandbox_down(folder: Path) -> None:
    subprocess.run([str(REPO / "scripts" / "sandbox"), "down", "--dir", str(folder)], capture_output=True, text=True, timeout=60)


def git(*args: str, cwd: Path) -> str:
    # The tests push as root to origins owned by the deploy user: git's ownership check
    # is lifted through a global config of the tests' own (`-c` does not reach the
    # receive-pack on the other side).
    global_config = Path(tempfile.gettempdir()) / "composeship-tests.gitconfig"
    if not global_config.exists():
        global_config.write_text("[safe]\n\tdirectory = *\n[user]\n\temail = dev@example.invalid\n\tname = Example Developer\n")
    environ = {**os.environ, "GIT_CONFIG_GLOBAL": str(global_config)}
    return subprocess.run(["git", *args], cwd=cwd, env=environ, capture_output=True, text=True, check=True).stdout.strip()


def as_user(user: str, *argv: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", *argv], cwd=cwd, capture_output=True, text=True, timeout=300)


@dataclass
class Origin:
    """The developer's side: a working copy that commits and pushes to the bare origin."""

    work: Path
    bare: Path
    user: str
    revisions: list[str] = field(default_factory=list)

    def commit(self, message: str, files: dict[str, str | None]) -> str:
        for relative, text in files.items():
            path = self.work / relative
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "origin", "HEAD:main", cwd=self.work)
        revision = git("rev-parse", "HEAD", cwd=self.work)
        self.revisions.append(revision)
        return revision

    def tag(self, name: str) -> None:
        git("tag", name, cwd=self.work)
        git("push", "-q", "origin", name, cwd=self.work)


@dataclass
class RemoteProject:
    host: dict
    origin: Origin
    path: str
    config_dir: Path
    compose_project: str
    port: int
    # The images' names start with it (`{prefix}_production_django`): each test's own,
    # so that tests building at once on one engine never retag each other's images.
    image_prefix: str = "example"
    # Where the proxy's published port answers (another engine's namespace: its address).
    address: str = "127.0.0.1"

    @property
    def alias(self) -> str:
        return self.host["name"]

    @property
    def docker_host(self) -> str:
        return self.host.get("docker_host") or ""

    @property
    def stack(self) -> Stack:
        return Stack(Path(self.path), self.compose_project, "docker-compose.production.yml", self.docker_host)

    def image(self, service: str) -> str:
        return f"{self.image_prefix}_production_{service}"

    def docker(self, *args: str, check: bool = False, timeout: float = 600) -> subprocess.CompletedProcess:
        return self.stack.docker(*args, check=check, timeout=timeout)

    def env(self, **extra: str) -> dict[str, str]:
        return clean_environ(DEPLOY_CONFIG_DIR=str(self.config_dir), **extra)

    def fab(self, *args: str, ssh_config: str | None = None, timeout: int = 900, **extra: str):
        return tool("fab", "-S", ssh_config or self.host["ssh_config"], "-H", self.alias, *args, env=self.env(**extra), timeout=timeout)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def page(self, path: str) -> tuple[int, str]:
        return http_get(f"{self.url}{path}")

    def head(self) -> str:
        return as_user(self.host["user"], "git", "-C", self.path, "rev-parse", "HEAD").stdout.strip()

    def releases(self) -> list[dict]:
        log = Path(self.path) / ".git" / "composeship" / "releases.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def locked(self) -> bool:
        return (Path(self.path) / ".git" / "composeship" / "lock").exists()


def make_remote_project(host: dict, tmp_path: Path, *, healthcheck_path: str = "/health/", extra_config: str = "", address: str = "127.0.0.1") -> RemoteProject:
    user, home = host["user"], host["home"]
    ident = uuid.uuid4().hex[:8]
    work = copy_example(tmp_path / "work")
    prefix = f"cs{ident}"
    compose_file = work / "docker-compose.production.yml"
    compose_file.write_text(compose_file.read_text().replace("image: example_production_", f"image: {prefix}_production_"))
    bare = Path(home) / "origins" / f"example-{ident}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=work)
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=work)
    origin = Origin(work, bare, user)
    origin.commit("example 1.0.0", {})

    uid, gid = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid
    path = Path(home) / "apps" / f"example-{ident}"
    path.mkdir(parents=True)
    port = free_port()
    # Compose reads .env for the published port; the example's .gitignore keeps it out of git.
    (path / ".env").write_text(f"DJANGO_PUBLISHED_PORT={port}\n")
    for folder in (bare, path, bare.parent, path.parent):
        subprocess.run(["chown", "-R", f"{uid}:{gid}", str(folder)], check=True)

    config_dir = tmp_path / "config"
    (config_dir / "hosts").mkdir(parents=True)
    compose_project = f"csr{ident}"
    (config_dir / "production.env").write_text(
        f"DEPLOY_PATH={path}\nDEPLOY_REPO_URL={bare}\nDEPLOY_COMPOSE_PROJECT={compose_project}\n"
        f"DEPLOY_HEALTHCHECK_URL=http://{address}:{port}{healthcheck_path}\nDEPLOY_HEALTHCHECK_TIMEOUT=60\n{extra_config}"
    )
    return RemoteProject(host, origin, str(path), config_dir, compose_project, port, prefix, address)


def deployed_project(host: dict, tmp_path: Path, **options) -> RemoteProject:
    """A remote project whose first deploy is done (and asserted)."""
    project = make_remote_project(host, tmp_path, **options)
    first = project.fab("deploy")
    assert first.returncode == 0, first.stdout + first.stderr
    return project


def destroy_remote_project(project: RemoteProject) -> None:
    project.stack.destroy()
    # The example's images are named after the test; a compose file without `image:`
    # (another project's shape) gets Compose's names, `{project}-{service}`.
    listed = [
        name
        for pattern in (f"{project.image_prefix}_production_*", f"{project.compose_project}-*")
        for name in project.docker("images", "--format", "{{.Repository}}:{{.Tag}}", pattern).stdout.split()
    ]
    if listed:
        project.docker("rmi", "--no-prune", *listed)
    shutil.rmtree(project.path, ignore_errors=True)
    shutil.rmtree(project.origin.bare, ignore_errors=True)

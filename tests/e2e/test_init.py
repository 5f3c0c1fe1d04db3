"""The issue's "must show", as a new user would do it: a fresh virtual environment,
`pip install` of this checkout, `composeship init` in a cookiecutter-shaped project
(the example, a git checkout with an origin), then from that project's folder
`inv local.migrate` on its local stack and `fab -H prod setup` and `deploy` to a
sandbox host. No DEPLOY_CONFIG_DIR and no DEPLOY_PROJECT_DIR: the settings are found
from the folder, in the .composeship/ that init wrote."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

from .helpers import REPO, Stack, clean_environ
from .remote import destroy_remote_project, git, make_remote_project


def run(argv: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=clean_environ(), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def install_checkout(tmp_path: Path) -> Path:
    """A fresh venv with composeship installed from a copy of this checkout's files (so
    the build leaves nothing in the checkout), the way a user would."""
    source = tmp_path / "composeship-src"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, listed):
        if (REPO / name).is_file() and not name.startswith(("example/", "benchmarks/")):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    venv = tmp_path / "venv"
    ok(run(["python3", "-m", "venv", str(venv)], cwd=tmp_path))
    ok(run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(source)], cwd=tmp_path, timeout=600))
    return venv / "bin"


def test_pip_install_then_init_then_inv_and_fab_from_the_project(sandbox_host, tmp_path):
    bin_ = install_checkout(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    # Installed as `composeship`, and nothing named `tasks` in site-packages.
    ok(run([str(bin_ / "python"), "-c", "import composeship.project, composeship.console"], cwd=outside))
    imported = run([str(bin_ / "python"), "-c", "import tasks"], cwd=outside)
    assert imported.returncode != 0 and "No module named 'tasks'" in imported.stderr

    project = make_remote_project(sandbox_host, tmp_path)
    work = project.origin.work
    local = Stack(work, f"csi{uuid.uuid4().hex[:8]}", "docker-compose.local.yml")
    try:
        init = ok(run([str(bin_ / "composeship"), "init"], cwd=work))
        for name in ("tasks.py", "fabfile.py", "fabric.json", ".composeship/local.env", ".composeship/production.env"):
            assert f"wrote     {name}" in init.stdout, init.stdout
        assert "production compose file: docker-compose.production.yml (django service django, proxy nginx, healthcheck /health/)" in init.stdout
        assert f"git origin: {project.origin.bare}" in init.stdout
        assert (work / "config" / "settings.py").is_file()  # the project's own config/ is untouched

        # What the user edits: the local stack's name (tests share this engine), and
        # the server's own settings in hosts/prod.env.
        with (work / ".composeship" / "local.env").open("a") as settings_file:
            settings_file.write(f"DEPLOY_COMPOSE_PROJECT={local.name}\n")
        (work / ".composeship" / "hosts").mkdir()
        (work / ".composeship" / "hosts" / "prod.env").write_text(
            f"DEPLOY_PATH={project.path}\nDEPLOY_COMPOSE_PROJECT={project.compose_project}\nDEPLOY_HEALTHCHECK_URL=http://127.0.0.1:{project.port}/health/\n"
        )
        revision = project.origin.commit("composeship init", {})

        migrated = ok(run([str(bin_ / "inv"), "local.migrate"], cwd=work / "notes"))
        assert "==> migrate [local]" in migrated.stdout and "local.migrate done in" in migrated.stdout
        assert {"notes.0001_initial", "auth.0001_initial"} <= local.applied_migrations()

        ssh_config = tmp_path / "ssh_config"
        ssh_config.write_text(Path(project.host["ssh_config"]).read_text().replace(f"Host {project.alias}", "Host prod"))
        fab = [str(bin_ / "fab"), "-S", str(ssh_config), "-H", "prod"]

        setup = ok(run([*fab, "setup"], cwd=work))
        assert f"cloned into {project.path}, beside the files already there" in setup.stdout, setup.stdout
        assert "prod is ready: deploy with `fab -H prod deploy`" in setup.stdout
        assert project.head() == revision

        deployed = ok(run([*fab, "deploy"], cwd=work))
        assert "deploy of main to prod done in" in deployed.stdout
        assert project.page("/version/") == (200, "1.0.0")
        assert "notes.0001_initial" in project.stack.applied_migrations()
        assert project.releases()[-1]["result"] == "ok" and project.releases()[-1]["revision"] == revision
        assert git("status", "--porcelain", cwd=work) == ""
    finally:
        local.destroy()
        destroy_remote_project(project)

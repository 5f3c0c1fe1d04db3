"""The issue's hand check, automated: a project that is not laid out like the example
(a `web` service, no `image:` names, another compose file name and an override file
beside it), settings given only as DEPLOY_* environment variables, the host reached
through an ssh_config alias `prod`, and a tag deployed with --ref."""

import subprocess
from pathlib import Path

from .helpers import assert_one_error_line, clean_environ, tool
from .remote import BROKEN_MIGRATION_0002, MIGRATION_0002, destroy_remote_project, make_remote_project
from .test_deploy import MODEL_WITH_BODY


def reshape(work: Path) -> None:
    compose = (work / "docker-compose.production.yml").read_text()
    compose = compose.replace("  django:\n", "  web:\n")
    compose = "\n".join(line for line in compose.splitlines() if "image: " not in line or "_production_" not in line) + "\n"
    (work / "compose.prod.yml").write_text(compose)
    (work / "docker-compose.production.yml").unlink()
    (work / "compose.override.prod.yml").write_text("services:\n  web:\n    environment:\n      SITE_NOTE: from-the-override\n")
    proxy = work / "compose/production/nginx/default.conf"
    proxy.write_text(proxy.read_text().replace("set $django_upstream django;", "set $django_upstream web;"))


def test_another_project_by_environment_only(sandbox_host, tmp_path):
    project = make_remote_project(sandbox_host, tmp_path)
    try:
        reshape(project.origin.work)
        project.origin.commit("our own layout", {})
        project.origin.tag("v1")
        settings = {
            "DEPLOY_PATH": project.path,
            "DEPLOY_REPO_URL": str(project.origin.bare),
            "DEPLOY_COMPOSE_FILE": "compose.prod.yml:compose.override.prod.yml",
            "DEPLOY_COMPOSE_PROJECT": project.compose_project,
            "DEPLOY_DJANGO_SERVICE": "web",
            "DEPLOY_RESTART_ORDER": "web,celeryworker",
            "DEPLOY_HEALTHCHECK_URL": f"http://127.0.0.1:{project.port}/health/",
        }
        empty_config = tmp_path / "no-config"
        empty_config.mkdir()
        env = clean_environ(DEPLOY_CONFIG_DIR=str(empty_config), **settings)
        ssh_config = tmp_path / "ssh_config"
        ssh_config.write_text(Path(project.host["ssh_config"]).read_text().replace(f"Host {project.alias}", "Host prod"))

        def fab(*args):
            return tool("fab", "-S", str(ssh_config), "-H", "prod", *args, env=env)

        first = fab("deploy", "--ref", "v1")
        assert first.returncode == 0, first.stdout + first.stderr
        assert project.page("/version/") == (200, "1.0.0")
        assert "build [prod] ok" in first.stdout and "(celeryworker, web)" in first.stdout
        # Both files, the override last: the web container has what only the override sets.
        web = project.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project.compose_project}", "--filter", "label=com.docker.compose.service=web", check=True).stdout.split()
        assert len(web) == 1
        assert "SITE_NOTE=from-the-override" in project.docker("inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", web[0], check=True).stdout.split()

        project.origin.commit("1.1.0 with a migration", {"VERSION": "1.1.0\n", "notes/models.py": MODEL_WITH_BODY, "notes/migrations/0002_note_body.py": MIGRATION_0002})
        project.origin.tag("v2")
        second = fab("deploy", "--ref", "v2")
        assert second.returncode == 0, second.stdout + second.stderr
        assert project.page("/version/") == (200, "1.1.0")
        stack = project.stack
        stack.compose_file = "compose.prod.yml"
        assert "notes.0002_note_body" in stack.applied_migrations()
        tagged = subprocess.run(["docker", "image", "inspect", f"{project.compose_project}-web:{project.origin.revisions[-1][:12]}"], capture_output=True)
        assert tagged.returncode == 0

        project.origin.commit("broken", {"VERSION": "2.0.0\n", "notes/migrations/0003_broken.py": BROKEN_MIGRATION_0002.replace('"0001_initial"', '"0002_note_body"')})
        project.origin.tag("v3")
        broken = fab("deploy", "--ref", "v3")
        assert_one_error_line(broken, "migrate --noinput", alone=False)
        assert project.page("/version/") == (200, "1.1.0")

        only = fab("migrate-only")
        assert only.returncode == 0, only.stdout + only.stderr
        assert "0 pending" in only.stdout
    finally:
        destroy_remote_project(project)

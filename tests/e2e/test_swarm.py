"""DEPLOY_ENGINE=swarm: the example as a Docker Swarm stack on a single-node swarm (an
engine of its own, in its own network namespace: `docker swarm init` there changes
nothing of the other tests), deployed from its manager over SSH with the production
file and the example's swarm override. A first deploy onto the empty swarm serves the
release with the database migrated; a release with a migration, under reads, writes
and version checks through the stack's nginx, loses no request, migrates once in a
one-off container on the stack's network, and serves when `fab deploy` returns; a
release whose tasks never get healthy leaves the old tasks serving."""

from __future__ import annotations

import subprocess

import pytest

from .load import Traffic
from .remote import MIGRATION_0002, destroy_remote_project, engine, make_remote_project, sandbox_down, sandbox_up
from .test_deploy import MODEL_WITH_BODY
from .test_zero_downtime import BROKEN_HEALTH

# One worker runs the module: its engine is one of a kind.
pytestmark = pytest.mark.xdist_group("swarm")
NAME, INDEX = "swarm1", 9
SWARM = "DEPLOY_ENGINE=swarm\nDEPLOY_COMPOSE_FILE=docker-compose.production.yml:docker-compose.swarm.yml\n"


@pytest.fixture(scope="module")
def swarm_host(tmp_path_factory):
    try:
        facts = engine("up", NAME, INDEX)
    except RuntimeError as problem:
        pytest.fail(f"test bed not ready: {problem}", pytrace=False)
    docker = ["docker", "-H", facts["docker_host"]]
    folder = tmp_path_factory.mktemp("swarm-host")
    try:
        subprocess.run([*docker, "swarm", "init", "--advertise-addr", facts["address"]], check=True, capture_output=True, text=True, timeout=120)
        host = sandbox_up(folder, "swarm", docker_host=facts["docker_host"])
        host["engine"] = facts
        yield host
    finally:
        subprocess.run([*docker, "swarm", "leave", "--force"], capture_output=True, timeout=120)
        sandbox_down(folder)
        engine("down", NAME, INDEX)


class Swarm:
    """The stack as the swarm runs it, read with plain docker on its engine."""

    def __init__(self, project):
        self.project = project
        self.stack = project.compose_project

    def docker(self, *args, check=True):
        return self.project.docker(*args, check=check)

    def images(self, service: str) -> list[str]:
        """The image of each task of the service that should run."""
        out = self.docker("service", "ps", "--filter", "desired-state=running", "--format", "{{.Image}}", f"{self.stack}_{service}").stdout
        return sorted(out.split())

    def sql(self, query: str) -> list[str]:
        container = self.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={self.stack}_postgres").stdout.split()[0]
        script = 'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "$0"'
        return self.docker("exec", container, "sh", "-c", script, query).stdout.split()

    def proxy_logs(self) -> str:
        logs = self.docker("service", "logs", "--no-task-ids", f"{self.stack}_nginx", check=False)
        return logs.stdout + logs.stderr

    def down(self):
        self.docker("stack", "rm", self.stack, check=False)


@pytest.fixture
def swarm_project(swarm_host, tmp_path):
    project = make_remote_project(swarm_host, tmp_path, address=swarm_host["engine"]["address"], extra_config=SWARM)
    swarm = Swarm(project)
    yield project, swarm
    swarm.down()
    destroy_remote_project(project)


def deployed(project):
    result = project.fab("deploy")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_a_first_deploy_then_a_release_with_a_migration_under_load(swarm_project):
    project, swarm = swarm_project
    first = deployed(project)
    assert project.page("/version/") == (200, "1.0.0")
    assert "notes.0001_initial" in " ".join(swarm.sql("select app || '.' || name from django_migrations"))
    revision = project.origin.revisions[-1]
    assert swarm.images("django") == [f"{project.image('django')}:{revision[:12]}"] * 2, "both replicas on the release's own tag"
    assert "==> first stack [swarm]" in first.stdout and "==> migrate [swarm]" in first.stdout

    release = project.origin.commit("notes get a body; 1.1.0", {"VERSION": "1.1.0\n", "notes/models.py": MODEL_WITH_BODY, "notes/migrations/0002_note_body.py": MIGRATION_0002})
    with Traffic(project, proxy_logs=swarm.proxy_logs) as traffic:
        second = deployed(project)
        served_at_return = project.page("/version/")
    assert served_at_return == (200, "1.1.0"), "the new release serves when fab deploy returns"
    traffic.check("1.0.0", "1.1.0")
    assert swarm.sql("select count(*) from django_migrations where name = '0002_note_body'") == ["1"]
    assert [line for line in second.stdout.splitlines() if line.startswith("==> migrate")] == ["==> migrate [swarm]"]
    assert swarm.images("django") == [f"{project.image('django')}:{release[:12]}"] * 2
    entry = project.releases()[-1]
    assert (entry["result"], entry["revision"]) == ("ok", release) and not project.locked()


def test_a_release_whose_tasks_never_get_healthy_leaves_the_old_tasks_serving(swarm_project):
    project, swarm = swarm_project
    deployed(project)
    old = swarm.images("django")
    urls = (project.origin.work / "config/urls.py").read_text().replace("from notes import views", "from notes import health_override as views")
    project.origin.commit("1.1.0 with a broken health view", {"VERSION": "1.1.0\n", "notes/health_override.py": BROKEN_HEALTH, "config/urls.py": urls})
    with Traffic(project, proxy_logs=swarm.proxy_logs) as traffic:
        result = project.fab("deploy", DEPLOY_HEALTHCHECK_TIMEOUT="60")
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "never ran healthy" in last and ("the swarm is rolling the update back" in last or "the swarm rolled the update back" in last), last
    assert "the old tasks keep serving" in last, last
    assert f"docker service logs {swarm.stack}_django" in last, last
    traffic.check("1.0.0")
    assert project.page("/version/") == (200, "1.0.0") and swarm.images("django") == old
    assert project.releases()[-1]["result"] == "rolled back" and not project.locked()

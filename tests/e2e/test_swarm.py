"""DEPLOY_ENGINE=swarm: the example as a Docker Swarm stack on a swarm of two nodes (two
engines of their own, each in its own network namespace: `docker swarm init` there
changes nothing of the other tests; the second joined as a worker), deployed from the
manager over SSH with the production file and the example's swarm override, its
images pushed to a registry (Debian's docker-registry, in the manager's namespace, at
its address) and named by digest: the worker pulls the django replica it runs from
there. A first deploy onto the empty swarm serves the
release with the database migrated; a release with a migration, under reads, writes
and version checks through the stack's nginx, loses no request, migrates once in a
one-off container on the stack's network, and serves when `fab deploy` returns;
`status` names it; `fab rollback` under the same load loses no request either; a
release whose tasks never get healthy leaves the old tasks serving."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from .load import Traffic, record_path
from .remote import MIGRATION_0002, destroy_remote_project, engine, make_remote_project, sandbox_down, sandbox_up
from .test_deploy import MODEL_WITH_BODY
from .test_truth import start_fab, wait_for_line
from .test_zero_downtime import BROKEN_HEALTH

# One worker runs the module: its engines are one of a kind.
pytestmark = pytest.mark.xdist_group("swarm")
NAME, INDEX = "swarm1", 9
WORKER, WORKER_INDEX = "swarm2", 10
# In the manager's namespace, at its address: both nodes pull from it (scripts/engine
# lets its engines reach a registry at 10.231.0.0/16 without TLS).
REGISTRY = f"10.231.{INDEX}.2:5000"
SWARM = f"DEPLOY_ENGINE=swarm\nDEPLOY_COMPOSE_FILE=docker-compose.production.yml:docker-compose.swarm.yml\nDEPLOY_REGISTRY={REGISTRY}\n"

POST_DEPLOY_0003 = """from django.db import migrations


class Migration(migrations.Migration):
    composeship = "post-deploy"

    dependencies = [
        ("notes", "0002_note_body"),
    ]

    operations = [
        migrations.RunSQL("SELECT 1", migrations.RunSQL.noop),
    ]
"""

REGISTRY_CONFIG = """version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
http:
  addr: {address}
"""


def start_registry(netns: str, folder) -> subprocess.Popen:
    """Debian's docker-registry in the manager's network namespace, at its address."""
    config = folder / "registry.yml"
    config.write_text(REGISTRY_CONFIG.format(root=folder / "registry-data", address=REGISTRY))
    log = open(folder / "registry.log", "w")  # noqa: SIM115 - open while the registry runs
    process = subprocess.Popen(["ip", "netns", "exec", netns, "docker-registry", "serve", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    for _ in range(100):
        answered = subprocess.run(["ip", "netns", "exec", netns, "curl", "-fs", "-o", "/dev/null", f"http://{REGISTRY}/v2/"], capture_output=True)
        if answered.returncode == 0:
            return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"docker-registry did not answer at {REGISTRY} in {netns}: {(folder / 'registry.log').read_text()[-500:]}")


@pytest.fixture(scope="module")
def swarm_host(tmp_path_factory):
    try:
        facts = engine("up", NAME, INDEX)
        worker = engine("up", WORKER, WORKER_INDEX)
    except RuntimeError as problem:
        pytest.fail(f"test bed not ready: {problem}", pytrace=False)
    docker, on_worker = ["docker", "-H", facts["docker_host"]], ["docker", "-H", worker["docker_host"]]
    folder = tmp_path_factory.mktemp("swarm-host")
    registry = None
    try:
        subprocess.run([*docker, "swarm", "init", "--advertise-addr", facts["address"]], check=True, capture_output=True, text=True, timeout=120)
        token = subprocess.run([*docker, "swarm", "join-token", "-q", "worker"], check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run([*on_worker, "swarm", "join", "--advertise-addr", worker["address"], "--token", token, f"{facts['address']}:2377"], check=True, capture_output=True, text=True, timeout=120)
        registry = start_registry(facts["netns"], folder)
        host = sandbox_up(folder, "swarm", docker_host=facts["docker_host"])
        host["engine"], host["worker"] = facts, worker
        yield host
    finally:
        if registry is not None:
            registry.terminate()
            registry.wait(timeout=30)
        subprocess.run([*on_worker, "swarm", "leave", "--force"], capture_output=True, timeout=120)
        subprocess.run([*docker, "swarm", "leave", "--force"], capture_output=True, timeout=120)
        sandbox_down(folder)
        engine("down", WORKER, WORKER_INDEX)
        engine("down", NAME, INDEX)


class Swarm:
    """The stack as the swarm runs it, read with plain docker on its engine."""

    def __init__(self, project):
        self.project = project
        self.stack = project.compose_project
        self.worker = ["docker", "-H", project.host["worker"]["docker_host"]]

    def docker(self, *args, check=True):
        return self.project.docker(*args, check=check)

    def on_worker(self, *args) -> str:
        return subprocess.run([*self.worker, *args], check=True, capture_output=True, text=True, timeout=120).stdout

    def worker_images(self, service: str) -> list[str]:
        ids = self.on_worker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={self.stack}_{service}").split()
        return sorted(self.on_worker("inspect", "--format", "{{.Image}}", container).strip() for container in ids)

    def spec_image(self, service: str) -> str:
        return self.docker("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", f"{self.stack}_{service}").stdout.strip()

    def wait_for_update_state(self, service: str, state: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while (seen := self.docker("service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", f"{self.stack}_{service}").stdout.strip()) != state:
            assert time.monotonic() < deadline, f"{self.stack}_{service}: update state {seen!r}, not {state!r}, after {timeout:g} s"
            time.sleep(0.5)

    def running_images(self, service: str) -> list[str]:
        """The image id of each running task's container, on both nodes."""
        ids = self.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={self.stack}_{service}").stdout.split()
        return sorted([self.docker("inspect", "--format", "{{.Image}}", container).stdout.strip() for container in ids] + self.worker_images(service))

    def release_digest(self, image: str, revision: str) -> str:
        """What the registry holds as the release's image: its digest reference."""
        name = f"{REGISTRY}/{image}:{revision[:12]}"
        digests = self.docker("image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}", name).stdout.split()
        (digest,) = [line for line in digests if line.startswith(f"{REGISTRY}/{image}@sha256:")]
        return digest

    def release_id(self, image: str, revision: str) -> str:
        return self.docker("image", "inspect", "--format", "{{.Id}}", f"{image}:{revision[:12]}").stdout.strip()

    def on_release(self, image: str, revision: str, replicas: int = 2) -> bool:
        """The django spec names the release's image in the registry by digest, and each
        of its tasks, the worker's among them, runs exactly the image built for the revision."""
        built = self.release_id(image, revision)
        return self.spec_image("django").startswith(self.release_digest(image, revision)) and self.running_images("django") == [built] * replicas and built in self.worker_images("django")

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


def test_a_first_deploy_a_release_with_a_migration_a_rollback_and_a_release_that_never_gets_healthy(swarm_project):
    project, swarm = swarm_project
    first = deployed(project)
    assert project.page("/version/") == (200, "1.0.0")
    assert "notes.0001_initial" in " ".join(swarm.sql("select app || '.' || name from django_migrations"))
    revision = project.origin.revisions[-1]
    assert swarm.on_release(project.image("django"), revision), "both replicas on the release's image, pulled by digest"
    assert "==> first stack [swarm]" in first.stdout and "==> migrate [swarm]" in first.stdout

    # A redeploy of what the stack runs: nothing locked, changed or recorded.
    again = deployed(project)
    assert "nothing locked, changed or recorded" in again.stdout and not any(f"==> {step} [swarm]" in again.stdout for step in ("lock", "stack", "restart")), again.stdout
    assert len(project.releases()) == 1

    # A migration that adds a column, and one marked to run once the release serves;
    # the database backed up first, in the postgres task.
    release = project.origin.commit(
        "notes get a body; 1.1.0",
        {"VERSION": "1.1.0\n", "notes/models.py": MODEL_WITH_BODY, "notes/migrations/0002_note_body.py": MIGRATION_0002, "notes/migrations/0003_after.py": POST_DEPLOY_0003},
    )
    with Traffic(project, proxy_logs=swarm.proxy_logs) as traffic:
        second = deployed(project)
        served_at_return = project.page("/version/")
    assert served_at_return == (200, "1.1.0"), "the new release serves when fab deploy returns"
    traffic.check("1.0.0", "1.1.0")
    record_path("swarm: a release with a migration", traffic, "migrated once in a one-off container, then the stack updated start-first")
    assert swarm.sql("select count(*) from django_migrations where name in ('0002_note_body', '0003_after')") == ["2"]
    assert [line for line in second.stdout.splitlines() if line.startswith(("==> migrate", "==> post-migrate"))] == ["==> migrate [swarm]", "==> post-migrate [swarm]"]
    assert swarm.on_release(project.image("django"), release)
    entry = project.releases()[-1]
    assert (entry["result"], entry["revision"], entry["previous"]) == ("ok", release, revision) and not project.locked()
    assert entry["post_deploy"] == ["notes.0003_after"] and entry["backup"].startswith("backup_"), entry
    assert entry["backup"] in project.fab("backups").stdout, "the backup is in the postgres service's volume"
    status = json.loads(project.fab("status", "--json").stdout)[0]
    assert status["revision"] == release, "status names what the stack's services run"
    assert sorted(row["container"] for row in status["services"] if row["service"] == "django") == [f"{swarm.stack}_django.1", f"{swarm.stack}_django.2"]
    assert {row["revision"] for row in status["services"] if row["service"] == "django"} == {release}
    logs = project.fab("logs", "--service", "nginx", "--tail", "3")
    assert logs.returncode == 0 and f"{swarm.stack}_nginx." in logs.stdout, logs.stdout + logs.stderr
    # The other tasks against the manager.
    setup = project.fab("setup")
    assert setup.returncode == 0 and "an active manager" in setup.stdout and f"{REGISTRY} answers" in setup.stdout, setup.stdout + setup.stderr
    listed = project.fab("manage", "--", "showmigrations", "notes")
    assert listed.returncode == 0 and "[X] 0003_after" in listed.stdout, listed.stdout + listed.stderr
    only = project.fab("migrate-only")
    assert only.returncode == 0, only.stdout + only.stderr
    assert (project.releases()[-1]["kind"], project.releases()[-1]["result"], project.releases()[-1]["revision"]) == ("migrate-only", "ok", release)

    # Back to the first release, under the same load: the stack file of that release.
    with Traffic(project, proxy_logs=swarm.proxy_logs) as traffic:
        rolled = project.fab("rollback")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    traffic.check("1.1.0", "1.0.0")
    record_path("swarm: rollback", traffic, "the stack file of the release before, updated start-first")
    assert project.page("/version/") == (200, "1.0.0")
    assert swarm.on_release(project.image("django"), revision)
    entry = project.releases()[-1]
    assert (entry["kind"], entry["result"], entry["revision"]) == ("rollback", "ok", revision) and not project.locked()

    # A release whose tasks never get healthy: the swarm rolls it back, the old tasks
    # serve throughout.
    old = swarm.running_images("django")
    urls = (project.origin.work / "config/urls.py").read_text().replace("from notes import views", "from notes import health_override as views")
    project.origin.commit("1.2.0 with a broken health view", {"VERSION": "1.2.0\n", "notes/health_override.py": BROKEN_HEALTH, "config/urls.py": urls})
    with Traffic(project, proxy_logs=swarm.proxy_logs) as traffic:
        result = project.fab("deploy", DEPLOY_HEALTHCHECK_TIMEOUT="60")
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "never ran healthy" in last and ("the swarm is rolling the update back" in last or "the swarm rolled the update back" in last), last
    assert "the old tasks keep serving" in last and f"docker service logs {swarm.stack}_django" in last, last
    traffic.check("1.0.0")
    record_path("swarm: a release whose tasks never get healthy", traffic, "rolled back by the swarm; the old tasks served throughout")
    # composeship may return while the swarm still rolls back (it says so): until the
    # rollback has completed, the old tasks' start-first replacements run beside them.
    swarm.wait_for_update_state("django", "rollback_completed")
    deadline = time.monotonic() + 60
    while swarm.running_images("django") != old and time.monotonic() < deadline:
        time.sleep(0.5)
    assert project.page("/version/") == (200, "1.0.0") and swarm.running_images("django") == old
    assert project.releases()[-1]["result"] == "rolled back" and not project.locked()

    # Killed (SIGKILL) once its stack deploy has begun: the next deploy, once the dead
    # run's lock is broken, puts the stack back on what served before that run (its
    # journal says), records it as interrupted, and deploys the release again.
    entries = len(project.releases())
    killed = start_fab(project, "deploy", "--ref", release, COMPOSESHIP_PAUSE_IN="restart:120")
    wait_for_line(killed, "drill: the next command")
    deadline = time.monotonic() + 60
    while not swarm.spec_image("django").startswith(swarm.release_digest(project.image("django"), release)):
        assert time.monotonic() < deadline, "the killed run's stack deploy never reached the swarm"
        time.sleep(0.5)
    killed.kill()
    killed.communicate(timeout=60)
    subprocess.run(["pkill", "-u", project.host["user"], "-x", "sleep"], capture_output=True)
    refused = project.fab("deploy", "--ref", release)
    assert refused.returncode == 1 and "unlock --force" in refused.stderr, refused.stdout + refused.stderr
    assert project.fab("unlock", "--force").returncode == 0
    with Traffic(project, proxy_logs=swarm.proxy_logs) as traffic:
        recovered = project.fab("deploy", "--ref", release)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    traffic.check("1.0.0", "1.1.0")
    record_path("swarm: a deploy killed mid-update, then the next deploy", traffic, "the stack put back on what served before it, then the release deployed again")
    assert "==> restore [swarm]" in recovered.stdout, recovered.stdout
    assert project.page("/version/") == (200, "1.1.0") and swarm.on_release(project.image("django"), release)
    assert [(e["result"], e["revision"]) for e in project.releases()[entries:]] == [("interrupted", release), ("ok", release)]
    assert project.releases()[-1]["previous"] == revision, "the release log says what served before: the stack put back"
    assert not project.locked() and project.head() == release

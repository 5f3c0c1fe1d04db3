"""No request fails on any path that restarts services: the example runs behind its
nginx proxy, as cookiecutter-django runs behind Traefik, and steady clients read, write
and ask for the version page through it while composeship rolls django out — a
release, one that changes only the host's env file, a rollback, `rollback --to`, the
deploy after a run killed mid-rollout, a first deploy onto a server set up by hand, a
django without a healthcheck, two hosts. Where an outage cannot be avoided (a published
host port), the plan says so before it happens, with what would avoid it. A release
whose new container never answers leaves the old one serving. Each path is a row of
the matrix the suite writes to .sandbox/zero-downtime-table.md."""

import subprocess
from pathlib import Path

from .helpers import assert_one_error_line, free_port
from .load import Load, Traffic, record_path
from .test_deploy import deploy_ok
from .test_truth import start_fab

BROKEN_HEALTH = """from django.http import HttpResponse

from .views import *  # noqa: F401,F403 - the rest of the views, unchanged


def health(request):
    return HttpResponse("this release never gets healthy\\n", status=503)
"""


def django_containers(project) -> list[tuple[str, str]]:
    """(name, image id) of the django service's containers, one-off ones aside."""
    out = project.docker(
        "ps",
        "-a",
        "--filter",
        f"label=com.docker.compose.project={project.compose_project}",
        "--filter",
        "label=com.docker.compose.service=django",
        "--filter",
        "label=com.docker.compose.oneoff=False",
        "--format",
        "{{.Names}} {{.Image}}",
        check=True,
    ).stdout
    return [tuple(line.split()) for line in out.splitlines()]


def django_health(project) -> list[str]:
    """Docker's verdict on each of the django service's containers."""
    return [project.docker("inspect", "--format", "{{.State.Health.Status}}", name, check=True).stdout.strip() for name, _ in django_containers(project)]


def test_a_release_that_never_answers_leaves_the_old_one_serving(remote_project):
    project = remote_project
    deploy_ok(project)
    before = django_containers(project)
    urls = (project.origin.work / "config/urls.py").read_text().replace("from notes import views", "from notes import health_override as views")
    project.origin.commit("1.1.0 with a broken health view", {"VERSION": "1.1.0\n", "notes/health_override.py": BROKEN_HEALTH, "config/urls.py": urls})
    url = f"{project.url}/version/"
    with Load(url, clients=4) as load:
        result = project.fab("deploy", DEPLOY_HEALTHCHECK_TIMEOUT="8")
    line = assert_one_error_line(result, "did not answer within 8s", "503", alone=False)
    assert "old containers kept serving" in line or "rolled back" in line, line
    assert load.failed == [], load.summary()
    assert load.versions()[-1] == "1.0.0" and project.page("/version/") == (200, "1.0.0")
    assert django_containers(project) == before, "the new container is gone, the old one untouched"
    assert project.releases()[-1]["result"] in ("failed", "rolled back")
    assert not project.locked()


def container_env(project, name: str) -> list[str]:
    return project.docker("inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", name, check=True).stdout.split()


def served_without_a_failure(path: str, traffic: Traffic, said: str, *versions: str) -> None:
    record_path(path, traffic, said)
    traffic.check(*versions)


def test_every_path_that_restarts_django_loses_no_request_or_says_so_first(remote_project):
    project = remote_project
    # Django's healthcheck every 60 s, as many projects have it: Docker says "starting"
    # for the first minute of each container, and every run here comes within that
    # minute. The old container still counts as serving: rolled out, not recreated.
    # Django reads SITE_NOTE from the host's .env, which is the host's own, not in git.
    compose = project.origin.work / "docker-compose.production.yml"
    text = compose.read_text()
    changed = text.replace("      interval: 10s\n", "      interval: 60s\n", 1).replace("    command: /start\n", "    command: /start\n    environment:\n      SITE_NOTE: ${SITE_NOTE:-none}\n", 1)
    assert changed.count("60s") == text.count("60s") + 1 and "SITE_NOTE" in changed
    first = project.origin.commit("django's healthcheck every minute; SITE_NOTE from the host", {"docker-compose.production.yml": changed})
    deploy_ok(project)
    release = project.origin.commit("1.1.0", {"VERSION": "1.1.0\n"})
    assert django_health(project) == ["starting"]
    assert "django: rolled out, no downtime" in project.fab("deploy", "--dry-run").stdout

    with Traffic(project) as traffic:
        released = deploy_ok(project)
    assert "rolled out django, celeryworker: no downtime" in released.stdout
    served_without_a_failure("deploy: a code release", traffic, "rolled out django, celeryworker: no downtime", "1.0.0", "1.1.0")
    assert traffic.versions.versions()[-1] == "1.1.0" and project.page("/version/") == (200, "1.1.0")
    assert django_health(project) == ["starting"]

    dotenv = Path(project.path) / ".env"
    dotenv.write_text(dotenv.read_text() + "SITE_NOTE=changed-on-the-host\n")
    with Traffic(project) as traffic:
        reconfigured = deploy_ok(project)
    assert "rolled out django: no downtime" in reconfigured.stdout, reconfigured.stdout
    served_without_a_failure("deploy: only the host's env file changed", traffic, "rolled out django: no downtime", "1.1.0")
    ((name, _),) = django_containers(project)
    assert "SITE_NOTE=changed-on-the-host" in container_env(project, name)
    assert project.releases()[-1]["config"] != project.releases()[-2]["config"]

    with Traffic(project) as traffic:
        rolled = project.fab("rollback")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert "no downtime" in rolled.stdout and "restart nginx" not in rolled.stdout
    served_without_a_failure("rollback", traffic, "rolled out django, celeryworker: no downtime", "1.0.0")
    assert project.page("/version/") == (200, "1.0.0") and len(django_containers(project)) == 1

    with Traffic(project) as traffic:
        forward = project.fab("rollback", "--to", release[:12])
    assert forward.returncode == 0, forward.stdout + forward.stderr
    assert "no downtime" in forward.stdout and "restart nginx" not in forward.stdout
    served_without_a_failure("rollback --to a chosen release", traffic, "rolled out django, celeryworker: no downtime", "1.1.0")
    assert project.page("/version/") == (200, "1.1.0")

    # Killed while old and new containers both serve; the next deploy, after the
    # `unlock --force` the refusal names, finishes the release.
    killed_at = project.origin.commit("1.2.0", {"VERSION": "1.2.0\n"})
    with Traffic(project) as traffic:
        run = start_fab(project, "deploy", "--ref", killed_at, COMPOSESHIP_PAUSE_AT="rollout:97")
        for line in run.stdout:
            if line.startswith("drill: pausing"):
                break
        assert len(django_containers(project)) == 2
        run.kill()
        run.communicate(timeout=60)
        subprocess.run(["pkill", "-u", project.host["user"], "-f", "^sleep 97$"], capture_output=True)
        refused = project.fab("deploy", "--ref", killed_at)
        assert refused.returncode != 0 and "unlock --force" in refused.stderr, refused.stdout + refused.stderr
        assert project.fab("unlock", "--force").returncode == 0
        recovered = deploy_ok(project, "--ref", killed_at)
    served_without_a_failure("a deploy killed mid-rollout, then the next deploy", traffic, "refused: locked by the dead run; after `unlock --force`: 1.2.0 serves", "1.1.0", "1.2.0")
    assert project.page("/version/") == (200, "1.2.0") and len(django_containers(project)) == 1
    assert project.releases()[-1]["result"] == "ok" and not project.locked(), recovered.stdout

    # An outage that cannot be avoided: the plan says so before it happens, and what
    # would avoid it. The proxy's own image changed: only one container can bind its
    # published port.
    conf = project.origin.work / "compose/production/nginx/default.conf"
    project.origin.commit("the proxy's configuration; 1.3.0", {"VERSION": "1.3.0\n", "compose/production/nginx/default.conf": conf.read_text() + "# a comment: a new image\n"})
    nginx = "nginx: recreated: a short outage because it publishes port"
    plan = project.fab("deploy", "--plan")
    assert plan.returncode == 0 and "sandbox: django: rolled out, no downtime" in plan.stdout and nginx in plan.stdout, plan.stdout
    with Traffic(project) as traffic:
        result = deploy_ok(project)
    lines = result.stdout.splitlines()
    said = next(i for i, line in enumerate(lines) if nginx in line)
    assert said < lines.index("==> restart nginx [sandbox]"), result.stdout
    record_path("the proxy's own image changed (announced)", traffic, f"said in the plan and before the restart: {nginx} …")
    assert project.page("/version/") == (200, "1.3.0")

    # Django publishes a host port: recreated in place.
    direct = compose.read_text().replace("    command: /start\n", '    command: /start\n    ports:\n      - "${DJANGO_DIRECT_PORT:-18000}:5000"\n', 1)
    dotenv.write_text(dotenv.read_text() + f"DJANGO_DIRECT_PORT={free_port()}\n")
    project.origin.commit("django publishes a port; 1.4.0", {"VERSION": "1.4.0\n", "docker-compose.production.yml": direct})
    reason = "django: recreated: a short outage because it publishes port"
    advice = "to avoid it, put a reverse proxy in front of django and remove its `ports:`"
    plan = project.fab("deploy", "--plan")
    assert plan.returncode == 0 and reason in plan.stdout and advice in plan.stdout, plan.stdout
    with Traffic(project) as traffic:
        result = deploy_ok(project)
    lines = result.stdout.splitlines()
    said = next(i for i, line in enumerate(lines) if reason in line and advice in line)
    assert said < lines.index("==> restart django [sandbox]"), result.stdout
    assert "<== restart django [sandbox] ok" in result.stdout and "a short outage because it publishes port" in result.stdout
    record_path("django publishes a host port (announced)", traffic, f"said in the plan and before the restart: {reason} …; {advice}")
    assert project.page("/version/") == (200, "1.4.0")
    assert first in [entry["revision"] for entry in project.releases()]


SLOW_START = """#!/bin/sh
set -e
# As cookiecutter-django's /start, which runs collectstatic first: the container runs
# for seconds before gunicorn listens.
sleep 6
exec gunicorn config.wsgi --bind 0.0.0.0:5000 --access-logfile -
"""


def test_a_django_without_a_healthcheck_that_listens_late_is_rolled_out_once_it_answers(sandbox_host, tmp_path):
    from .remote import destroy_remote_project, make_remote_project

    project = make_remote_project(sandbox_host, tmp_path)
    try:
        compose = project.origin.work / "docker-compose.production.yml"
        text = compose.read_text()
        start, end = text.index("    healthcheck:\n"), text.index("\n  postgres:\n") + 1
        project.origin.commit(
            "django as cookiecutter-django has it: no healthcheck, a slow /start", {"docker-compose.production.yml": text[:start] + "\n" + text[end:], "compose/production/django/start": SLOW_START}
        )
        deploy_ok(project)
        project.origin.commit("1.1.0", {"VERSION": "1.1.0\n"})
        plan = project.fab("deploy", "--dry-run")
        assert "django: rolled out, no downtime (no healthcheck: ready once the app answers at port 5000/health/ of the new container)" in plan.stdout, plan.stdout
        with Traffic(project) as traffic:
            released = deploy_ok(project)
        assert "rolled out django, celeryworker: no downtime" in released.stdout
        served_without_a_failure("django without a healthcheck, listening 6 s late", traffic, "rolled out django, celeryworker: no downtime, once the app answered", "1.0.0", "1.1.0")
        assert traffic.versions.versions()[-1] == "1.1.0"
        assert len(django_containers(project)) == 1
    finally:
        destroy_remote_project(project)


def test_a_server_set_up_by_hand_then_deployed_and_rolled_back_loses_no_request_and_keeps_its_proxy(sandbox_host, tmp_path):
    """As a team starts: the server set up with the commands typed by hand, its proxy
    depending on django as cookiecutter-django's does; then deploys and a rollback
    with composeship, under steady reads and writes through that proxy."""
    from .remote import as_user, destroy_remote_project, make_remote_project

    project = make_remote_project(sandbox_host, tmp_path)
    try:
        compose = project.origin.work / "docker-compose.production.yml"
        text = compose.read_text()
        proxy = text.replace('    ports:\n      - "${DJANGO_PUBLISHED_PORT:-8000}:80"\n', '    depends_on:\n      - django\n    ports:\n      - "${DJANGO_PUBLISHED_PORT:-8000}:80"\n')
        assert proxy != text
        first = project.origin.commit("the proxy depends on django", {"docker-compose.production.yml": proxy})
        user, path = project.host["user"], project.path
        by_hand = [
            ["git", "-C", path, "init", "-q"],
            ["git", "-C", path, "remote", "add", "origin", str(project.origin.bare)],
            ["git", "-C", path, "fetch", "-q", "origin"],
            ["git", "-C", path, "checkout", "-q", first],
            ["docker", "compose", "-p", project.compose_project, "-f", f"{path}/docker-compose.production.yml", "build", "-q"],
            ["docker", "compose", "-p", project.compose_project, "-f", f"{path}/docker-compose.production.yml", "run", "--rm", "django", "python", "manage.py", "migrate", "--noinput"],
            ["docker", "compose", "-p", project.compose_project, "-f", f"{path}/docker-compose.production.yml", "up", "-d", "--wait"],
        ]
        for argv in by_hand:
            done = as_user(user, *argv, cwd=path)
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
        proxy_container = project.stack.compose("ps", "-q", "nginx").stdout.strip()
        assert project.page("/version/") == (200, "1.0.0")

        with Traffic(project) as traffic:
            adopted = deploy_ok(project, "--ref", first)  # images labelled with the revision now
        served_without_a_failure("first deploy onto a server set up by hand", traffic, "rolled out django, celeryworker: no downtime; the proxy left alone", "1.0.0")
        project.origin.commit("1.1.0", {"VERSION": "1.1.0\n"})
        with Traffic(project) as traffic:
            released = deploy_ok(project)
        traffic.check("1.0.0", "1.1.0")
        with Traffic(project) as traffic:
            rolled = project.fab("rollback")
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        served_without_a_failure("deploy after it, then rollback, proxy kept", traffic, "rollback: rolled out django, celeryworker: no downtime; the proxy is the one set up by hand", "1.0.0")
        assert project.page("/version/") == (200, "1.0.0")
        for output in (adopted.stdout, released.stdout, rolled.stdout):
            assert "restart nginx" not in output, output
        assert project.stack.compose("ps", "-q", "nginx").stdout.strip() == proxy_container, "the proxy is the one set up by hand"
        entry = project.releases()[-1]
        assert entry["kind"] == "rollback" and entry["config"] and entry["config"] == project.releases()[-3]["config"]
    finally:
        destroy_remote_project(project)

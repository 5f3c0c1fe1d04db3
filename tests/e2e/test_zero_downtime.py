"""No request fails during a deploy or a rollback: the example runs behind its nginx
proxy, as cookiecutter-django runs behind Traefik, and four steady clients ask for the
version page through it while `fab deploy` and `fab rollback` roll django out. A
release whose new container never answers leaves the old one serving; a service with a
published host port is recreated, and the output says why and what would avoid it."""

from .helpers import assert_one_error_line
from .load import Load
from .test_deploy import deploy_ok

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


def test_a_release_and_a_rollback_under_load_lose_no_request(remote_project):
    # Django's healthcheck every 60 s, as many projects have it: Docker says "starting"
    # for the first minute of each container, and every deploy and rollback here comes
    # within that minute. The old container still counts as serving: rolled out, not
    # recreated.
    project = remote_project
    compose = project.origin.work / "docker-compose.production.yml"
    slow_checks = compose.read_text().replace("      interval: 10s\n", "      interval: 60s\n", 1)
    assert slow_checks != compose.read_text()
    project.origin.commit("django's healthcheck every minute", {"docker-compose.production.yml": slow_checks})
    deploy_ok(project)
    project.origin.commit("1.1.0", {"VERSION": "1.1.0\n"})
    assert django_health(project) == ["starting"]
    assert "django: rolled out, no downtime" in project.fab("deploy", "--dry-run").stdout
    url = f"{project.url}/version/"

    with Load(url, clients=4) as load:
        released = deploy_ok(project)
    assert load.failed == [], load.summary()
    assert len(load.answers) > 40, load.summary()
    assert {"1.0.0", "1.1.0"} <= set(load.versions())
    assert load.versions()[-1] == "1.1.0" and project.page("/version/") == (200, "1.1.0")
    assert "rolled out django, celeryworker: no downtime" in released.stdout
    assert django_health(project) == ["starting"]

    with Load(url, clients=4) as load:
        rolled = project.fab("rollback")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert load.failed == [], load.summary()
    assert load.versions()[-1] == "1.0.0" and project.page("/version/") == (200, "1.0.0")
    assert "no downtime" in rolled.stdout
    assert len(django_containers(project)) == 1


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


def test_a_service_with_a_published_port_is_recreated_and_the_output_says_why(remote_project):
    project = remote_project
    deploy_ok(project)
    compose = (project.origin.work / "docker-compose.production.yml").read_text()
    direct = compose.replace("    command: /start\n", '    command: /start\n    ports:\n      - "${DJANGO_DIRECT_PORT:-18000}:5000"\n', 1)
    assert direct != compose
    from pathlib import Path

    from .helpers import free_port

    env = Path(project.path) / ".env"
    env.write_text(env.read_text() + f"DJANGO_DIRECT_PORT={free_port()}\n")
    project.origin.commit("django publishes a port; 1.1.0", {"VERSION": "1.1.0\n", "docker-compose.production.yml": direct})
    deploy_ok(project)  # the first time the port appears, django is recreated anyway
    project.origin.commit("1.2.0", {"VERSION": "1.2.0\n"})
    result = deploy_ok(project)
    reason = "django: recreated: a short outage because it publishes port"
    assert reason in result.stdout and "to avoid it, put a reverse proxy in front of django and remove its `ports:`" in result.stdout
    assert "restart django [sandbox] ok" in result.stdout and "a short outage because it publishes port" in result.stdout
    assert project.page("/version/") == (200, "1.2.0")


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
        with Load(f"{project.url}/version/", clients=4) as load:
            released = deploy_ok(project)
        assert load.failed == [], load.summary()
        assert {"1.0.0", "1.1.0"} <= set(load.versions()) and load.versions()[-1] == "1.1.0"
        assert "rolled out django, celeryworker: no downtime" in released.stdout
        assert len(django_containers(project)) == 1
    finally:
        destroy_remote_project(project)


def test_a_server_set_up_by_hand_then_deployed_and_rolled_back_loses_no_request_and_keeps_its_proxy(sandbox_host, tmp_path):
    """As a team starts: the server set up with the commands typed by hand, its proxy
    depending on django as cookiecutter-django's does; then deploys and a rollback
    with composeship, under steady reads and writes through that proxy."""
    from .remote import as_user, destroy_remote_project, make_remote_project
    from .test_expand_contract import Traffic

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

        adopted = deploy_ok(project, "--ref", first)  # images labelled with the revision now
        project.origin.commit("1.1.0", {"VERSION": "1.1.0\n"})
        with Traffic(project) as traffic:
            released = deploy_ok(project)
        traffic.check("1.0.0", "1.1.0")
        with Traffic(project) as traffic:
            rolled = project.fab("rollback")
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        traffic.check("1.0.0")
        assert project.page("/version/") == (200, "1.0.0")
        for output in (adopted.stdout, released.stdout, rolled.stdout):
            assert "restart nginx" not in output, output
        assert project.stack.compose("ps", "-q", "nginx").stdout.strip() == proxy_container, "the proxy is the one set up by hand"
        entry = project.releases()[-1]
        assert entry["kind"] == "rollback" and entry["config"] and entry["config"] == project.releases()[-3]["config"]
    finally:
        destroy_remote_project(project)

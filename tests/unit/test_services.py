"""steps/services.py's decisions as data: what the containers run in, which services
restart out, and in what order."""

import json

import pytest
from invoke import Result

from tasks.facts.compose import ServiceConfig
from tasks.facts.host_state import Container
from tasks.facts.images import InspectedImage
from tasks.steps.images import BuildGroup
from tasks.steps.services import dependencies_first, first_wave, not_ready, others_on_their_images, preview, recreated_note, restart_order, stale_services
from tests.unit.recorded_host import RecordedHost, web1

NEW, OLD = "sha256:new", "sha256:old"
IMAGES = {"django": "app_django", "celeryworker": "app_celeryworker"}


def container(service, image_id=NEW, state="running", health="", oneoff=False, number=1):
    return Container(f"id-{service}-{number}", f"app-{service}-{number}", service, oneoff, state, health, image_id, None, number=number)


def group(depends_on=None):
    depends_on = depends_on or {}
    names = ["django", "celeryworker", "postgres", "nginx"]
    configs = {name: ServiceConfig(name, IMAGES.get(name, f"app_{name}"), None, depends_on=tuple(depends_on.get(name, ()))) for name in names}
    return BuildGroup(["django", "celeryworker"], sorted(IMAGES.values()), names, "app", dict(IMAGES), configs)


RELEASE = {"app_django": NEW, "app_celeryworker": NEW}
UP = [container("django"), container("celeryworker"), container("postgres", "sha256:pg", health="healthy"), container("nginx", "sha256:nginx")]


@pytest.mark.parametrize(
    "containers, target_ids, expected",
    [
        pytest.param(UP, RELEASE, [], id="every container on the release's image"),
        pytest.param([container("django", OLD), *UP[1:]], RELEASE, ["django"], id="django on the old image"),
        pytest.param([container("django", NEW, number=1), container("django", OLD, number=2), *UP[1:]], RELEASE, ["django"], id="a rollout stopped half-way"),
        pytest.param(UP[1:], RELEASE, ["django"], id="django not running"),
        pytest.param([container("django", state="exited"), *UP[1:]], RELEASE, ["django"], id="django stopped"),
        pytest.param(UP, {"app_django": NEW}, ["celeryworker"], id="the worker's target image unknown"),
        pytest.param([*UP, container("django", OLD, oneoff=True, number=9)], RELEASE, [], id="a one-off container of the old image does not count"),
    ],
)
def test_stale_services(containers, target_ids, expected):
    assert stale_services(containers, group(), target_ids) == expected


@pytest.mark.parametrize(
    "health, state, expected",
    [
        ("healthy", "running", []),
        ("", "running", []),
        ("unhealthy", "running", ["postgres"]),
        pytest.param("starting", "running", [], id="inside its first healthcheck interval"),
        ("healthy", "restarting", ["postgres"]),
        ("", "exited", ["postgres"]),
    ],
)
def test_not_ready(health, state, expected):
    containers = [container("postgres", "sha256:pg", state=state, health=health)]
    assert not_ready(containers, ["postgres"]) == expected


def test_not_ready_counts_a_service_without_containers():
    assert not_ready(UP[:3], ["django", "nginx"]) == ["nginx"]


@pytest.mark.parametrize(
    "containers, expected",
    [
        pytest.param(UP, [], id="nothing to do"),
        pytest.param([container("django", OLD), container("celeryworker", OLD), *UP[2:]], ["celeryworker", "django"], id="a code release"),
        pytest.param([*UP[:3], container("nginx", "sha256:nginx", state="exited")], ["nginx"], id="the proxy down (an engine restart)"),
        pytest.param([container("django", OLD), UP[1], container("postgres", "sha256:pg", health="unhealthy"), UP[3]], ["django", "postgres"], id="both at once, sorted"),
    ],
)
def test_first_wave(containers, expected):
    assert first_wave(containers, group(), RELEASE) == expected


@pytest.mark.parametrize(
    "preferred, services, expected",
    [
        (["django", "celeryworker"], ["nginx", "celeryworker", "django"], ["django", "celeryworker", "nginx"]),
        (["django", "flower"], ["celeryworker"], ["celeryworker"]),
        ([], ["nginx", "django"], ["nginx", "django"]),
    ],
)
def test_restart_order(preferred, services, expected):
    assert restart_order(preferred, services) == expected


@pytest.mark.parametrize(
    "ordered, depends_on, expected",
    [
        pytest.param(["django", "postgres"], {"django": ["postgres"]}, ["postgres", "django"], id="postgres before django on a first deploy"),
        pytest.param(["django", "nginx"], {"django": ["postgres"], "nginx": ["django"]}, ["django", "nginx"], id="a dependency not restarted is not added"),
        pytest.param(["nginx", "django", "postgres"], {"nginx": ["django"], "django": ["postgres"]}, ["postgres", "django", "nginx"], id="a chain"),
        pytest.param(["django", "celeryworker"], {"django": ["celeryworker"], "celeryworker": ["django"]}, ["celeryworker", "django"], id="a cycle ends"),
    ],
)
def test_dependencies_first(ordered, depends_on, expected):
    assert dependencies_first(ordered, group(depends_on).configs) == expected


def inspected(image_id):
    return InspectedImage(id=image_id, revision=None, tags=())


@pytest.mark.parametrize(
    "nginx_image_now, known, expected",
    [
        pytest.param("sha256:nginx", ["django", "celeryworker"], True, id="the proxy runs what its name points to"),
        pytest.param("sha256:nginx2", ["django", "celeryworker"], False, id="a build moved the proxy's image name"),
        pytest.param("sha256:nginx2", ["django", "celeryworker", "nginx"], True, id="the proxy restarts anyway"),
    ],
)
def test_others_on_their_images(nginx_image_now, known, expected):
    images = {"app_nginx:latest": inspected(nginx_image_now), "app_postgres:latest": inspected("sha256:pg")}
    assert others_on_their_images(UP, images, group(), known) is expected


@pytest.mark.parametrize(
    "output, expected",
    [
        (" Container app-nginx-1  Recreated\n Container app-nginx-1  Started\n", "recreated"),
        (" Container app-postgres-1  Running\n", "unchanged"),
        ("", ""),
    ],
)
def test_recreated_note(output, expected):
    assert recreated_note(output) == expected


def listed(service, image_id):
    labels = {"com.docker.compose.service": service, "com.docker.compose.oneoff": "False", "com.docker.compose.project": "app"}
    state = {"Status": "running"}
    return json.dumps({"kind": "container", "id": f"id-{service}", "name": f"/app-{service}-1", "image": image_id, "state": state, "labels": labels, "cmd": []})


AVOID = "to avoid it, put a reverse proxy in front of {} and remove its `ports:`"


def published(name, port):
    return ServiceConfig(name, IMAGES.get(name, f"app_{name}"), None, ports=(port,))


@pytest.mark.parametrize(
    "configs, compose_says, expected",
    [
        pytest.param({}, "", ["web1: django: rolled out, no downtime", "web1: celeryworker: rolled out, no downtime"], id="a code release"),
        pytest.param(
            {"nginx": published("nginx", "80")},
            " Container app-nginx-1  Recreate\n",
            [
                "web1: django: rolled out, no downtime",
                "web1: celeryworker: rolled out, no downtime",
                "web1: nginx: recreated: a short outage because it publishes port 80 on the host, which only one container can bind; " + AVOID.format("nginx"),
            ],
            id="the proxy's image changed",
        ),
        pytest.param(
            {"django": published("django", "8000")},
            "",
            [
                "web1: django: recreated: a short outage because it publishes port 8000 on the host, which only one container can bind; " + AVOID.format("django"),
                "web1: celeryworker: rolled out, no downtime",
            ],
            id="django publishes a port in the release",
        ),
    ],
)
def test_the_plan_says_what_the_restart_would_do_and_each_outage_first(tmp_path, configs, compose_says, expected):
    plan = group()
    plan = BuildGroup(plan.services, plan.images, plan.all_services, plan.project_name, plan.image_of, {**plan.configs, **configs})
    running = "\n".join([listed("django", OLD), listed("celeryworker", OLD), listed("postgres", "sha256:pg"), listed("nginx", "sha256:nginx")])
    host = RecordedHost({r"sh -c 'c=\"\$1\" i=\"\$2\"": Result(running + "\n"), r"sh -c 'docker image inspect": Result(""), r".* --dry-run up -d --no-build": Result(stderr=compose_says)})
    t = web1(tmp_path, host)
    assert [line.split(" (")[0] if "rolled out" in line else line for line in preview(t, plan, RELEASE)] == expected
    assert not any("--dry-run" not in command and " up " in command for command in host.commands), "read only"

"""facts/swarm.py: the swarm's state, the stack's services and tasks as `docker` prints
them (recorded from a single-node swarm running the example as stack `swx`), and
whether an update converged, decided from those facts as data."""

from pathlib import Path

import pytest

from tasks.errors import DeployError
from tasks.facts.swarm import SwarmService, SwarmTask, converged, normal_image, parse_services, parse_swarm_state, parse_tasks, task_errors

RECORDED = Path(__file__).parent / "recorded"


def test_an_active_manager_a_worker_and_an_engine_outside_any_swarm():
    assert parse_swarm_state('{"LocalNodeState":"active","ControlAvailable":true,"Error":""}') == parse_swarm_state('{"LocalNodeState":"active","ControlAvailable":true}')
    assert parse_swarm_state('{"LocalNodeState":"active","ControlAvailable":true}').manager
    assert not parse_swarm_state('{"LocalNodeState":"active","ControlAvailable":false}').manager
    assert not parse_swarm_state('{"LocalNodeState":"inactive","ControlAvailable":false}').active
    with pytest.raises(DeployError):
        parse_swarm_state("Cannot connect to the Docker daemon")


def test_the_stacks_services_by_their_compose_names():
    services = parse_services((RECORDED / "swarm-services.json").read_text(), "swx")
    assert sorted(services) == ["celeryworker", "django", "nginx", "postgres"]
    assert services["django"] == SwarmService("django", "swx_django", "swx_django:r2", 2, "completed", "update completed")
    assert services["nginx"].update == "" and services["nginx"].replicas == 1


def test_the_stacks_tasks_old_and_new():
    tasks = parse_tasks((RECORDED / "swarm-tasks.txt").read_text(), "swx")
    django = [task for task in tasks if task.service == "django"]
    assert [(t.slot, t.image, t.desired, t.state) for t in django] == [
        ("1", "swx_django:r2", "Running", "Running"),
        ("1", "swx_django:r1", "Shutdown", "Shutdown"),
        ("2", "swx_django:r2", "Running", "Running"),
        ("2", "swx_django:r1", "Shutdown", "Shutdown"),
    ]
    with pytest.raises(DeployError):
        parse_tasks("not json\n", "swx")


def service(update="completed", image="app_django:new", replicas=2, message=""):
    return {"django": SwarmService("django", "app_django", image, replicas, update, message)}


def task(image="app_django:new", slot="1", desired="Running", state="Running", error=""):
    return SwarmTask("django", slot, image, desired, state, error)


WANTED = {"django": "app_django:new"}


@pytest.mark.parametrize(
    "services, tasks, expected",
    [
        pytest.param(service(), [task(slot="1"), task(slot="2"), task("app_django:old", "1", "Shutdown", "Shutdown")], (True, "", ()), id="every replica on the release"),
        pytest.param(service(update=""), [task(slot="1"), task(slot="2")], (True, "", ()), id="a new service, never updated"),
        pytest.param(service("updating"), [task(slot="1"), task("app_django:old", "2")], (False, "", ("django: 1 of 2 tasks run app_django:new",)), id="half-way"),
        pytest.param(service(), [task(slot="1"), task("app_django:new", "2", state="Starting")], (False, "", ("django: 1 of 2 tasks run app_django:new",)), id="a task not yet healthy"),
        pytest.param(service(image="app_django:old"), [task("app_django:old")], (False, "", ("django: its spec runs app_django:old",)), id="the spec not changed yet"),
        pytest.param({}, [], (False, "", ("django: no such service yet",)), id="no such service"),
        pytest.param(
            service("rollback_completed", "app_django:old", message="update rolled back due to failure or early termination of task"),
            [task("app_django:old")],
            (False, "django: the swarm rolled the update back (update rolled back due to failure or early termination of task)", ()),
            id="the swarm rolled it back",
        ),
        pytest.param(service("paused", message="update paused due to failure"), [task()], (False, "django: the swarm paused the update (update paused due to failure)", ()), id="the swarm paused it"),
    ],
)
def test_converged(services, tasks, expected):
    found = converged(services, tasks, WANTED)
    assert (found.done, found.failed, found.waiting) == expected


def test_an_image_without_a_tag_is_the_specs_latest():
    services = {"nginx": SwarmService("nginx", "app_nginx", "app_nginx:latest", 1, "")}
    assert converged(services, [SwarmTask("nginx", "1", "app_nginx:latest", "Running", "Running")], {"nginx": "app_nginx"}).done
    assert normal_image("registry:5000/app_django") == "registry:5000/app_django:latest"
    assert normal_image("registry:5000/app_django@sha256:ab") == "registry:5000/app_django@sha256:ab"


def test_task_errors_name_the_failed_tasks_once_each():
    tasks = [
        task(state="Failed", error="task: non-zero exit (1)"),
        task(slot="2", state="Failed", error="task: non-zero exit (1)"),
        task(slot="2", state="Failed", error="task: non-zero exit (1)"),
        task(),
    ]
    assert task_errors(tasks, ["django"]) == ["django.1: failed: task: non-zero exit (1)", "django.2: failed: task: non-zero exit (1)"]


def test_what_serves_is_read_from_the_services_specs_and_their_images_labels():
    from tasks.facts.images import InspectedImage
    from tasks.facts.swarm import serving

    specs = {
        "django": SwarmService("django", "shop_django", "shop_django:aaaaaaaaaaaa", 2, "completed"),
        "celeryworker": SwarmService("celeryworker", "shop_celeryworker", "shop_celeryworker:aaaaaaaaaaaa", 1, "updating"),
    }
    found = {
        "shop_django:aaaaaaaaaaaa": InspectedImage("sha256:d", "a" * 40, ("shop_django:aaaaaaaaaaaa",)),
        "shop_celeryworker:aaaaaaaaaaaa": InspectedImage("sha256:c", "a" * 40, ("shop_celeryworker:aaaaaaaaaaaa",)),
    }
    image_of = {"django": "shop_django", "celeryworker": "shop_celeryworker"}
    now = serving(specs, found, image_of, "django")
    assert (now.revision, now.images, now.not_ready) == ("a" * 40, {"shop_django": "sha256:d", "shop_celeryworker": "sha256:c"}, ("celeryworker",))
    # An empty swarm, or an image the manager does not have: nothing known to serve.
    assert not serving({}, {}, image_of, "django").running
    assert serving(specs, {}, image_of, "django").revision is None


def stack(update="completed", django_image="shop_django@sha256:new", postgres=True):
    specs = {"django": SwarmService("django", "shop_django", django_image, 2, update)}
    if postgres:
        specs["postgres"] = SwarmService("postgres", "shop_postgres", "postgres:15", 1, "")
    return specs


def tasks_on(django_image="shop_django@sha256:new", healthy=2):
    return [SwarmTask("django", str(slot), django_image, "Running", "Running" if slot <= healthy else "Starting") for slot in (1, 2)] + [
        SwarmTask("postgres", "1", "postgres:15", "Running", "Running")
    ]


@pytest.mark.parametrize(
    "specs, tasks, labelled, expected",
    [
        pytest.param(stack(), tasks_on(), "r" * 40, True, id="every task on the revision's image: a redeploy is a no-op"),
        pytest.param(stack(), tasks_on(), "o" * 40, False, id="the spec's image is another revision's"),
        pytest.param(stack(), tasks_on(), None, False, id="the manager lacks the spec's image: unknown"),
        pytest.param(stack("updating"), tasks_on(), "r" * 40, False, id="an update in progress"),
        pytest.param(stack("rollback_completed"), tasks_on(), "r" * 40, False, id="an update the swarm rolled back"),
        pytest.param(stack(), tasks_on(healthy=1), "r" * 40, False, id="a task not yet running healthy"),
        pytest.param(stack(postgres=False), tasks_on()[:2], "r" * 40, False, id="a service of the configuration missing from the stack"),
        pytest.param(stack(), tasks_on()[:2], "r" * 40, False, id="postgres has no running task"),
    ],
)
def test_whether_the_stack_runs_the_release_as_a_deploy_leaves_it(specs, tasks, labelled, expected):
    from tasks.facts.images import InspectedImage
    from tasks.facts.swarm import runs_release

    found = {"shop_django@sha256:new": InspectedImage("sha256:new", labelled, ())} if labelled else {}
    assert runs_release(specs, tasks, found, ["django", "postgres"], ["django"], "r" * 40) is expected


@pytest.mark.parametrize(
    "said, expected",
    [
        pytest.param(
            "Error response from daemon: manifest for 127.0.0.1:5000/composeship/registry-check:absent not found: manifest unknown: manifest unknown",
            (True, False, ""),
            id="Distribution 2.8 (recorded): it answers, the image is absent",
        ),
        pytest.param(
            'Error response from daemon: Get "http://127.0.0.1:5009/v2/": dial tcp 127.0.0.1:5009: connect: connection refused',
            (False, False, 'Error response from daemon: Get "http://127.0.0.1:5009/v2/": dial tcp 127.0.0.1:5009: connect: connection refused'),
            id="nothing listens (recorded)",
        ),
        pytest.param(
            'Error response from daemon: Head "https://registry.example/v2/composeship/registry-check/manifests/absent": unauthorized: authentication required',
            (True, True, ""),
            id="a registry that wants a login",
        ),
        pytest.param('Error response from daemon: Get "https://10.0.0.5:5000/v2/": http: server gave HTTP response to HTTPS client', (False, False, None), id="TLS asked of a plain registry"),
        pytest.param("", (False, False, "no answer"), id="no output at all"),
    ],
)
def test_whether_the_registry_answers_the_engine(said, expected):
    from tasks.facts.swarm import parse_registry_check

    answer = parse_registry_check(said)
    assert (answer.answers, answer.login_needed) == expected[:2]
    if expected[2] is not None:
        assert answer.said == expected[2]

"""steps/recovery.py and what it reads: after a run killed half-way through its rollout
(old and new containers running), what served before it is what the next run goes
back to, decided from the containers and the killed run's journal."""

import json

from tasks.facts.compose import ComposeConfig, ServiceConfig
from tasks.facts.host_state import Observed, parse_containers
from tasks.records import Journal
from tasks.steps.images import group_of
from tasks.steps.recovery import HostView, started_beside

OLD, NEW = "sha256:" + "a" * 64, "sha256:" + "b" * 64
OLD_REV, NEW_REV = "1" * 40, "2" * 40


def container(number: int, image: str, service: str = "django", state: str = "running") -> str:
    labels = {"com.docker.compose.service": service, "com.docker.compose.container-number": str(number), "com.docker.compose.oneoff": "False"}
    return json.dumps({"kind": "container", "id": f"c{number}{service}", "name": f"/app-{service}-{number}", "image": image, "state": {"Status": state}, "labels": labels, "cmd": ["/start"]})


def images() -> list[str]:
    label = "org.opencontainers.image.revision"
    return [json.dumps({"kind": "image", "id": OLD, "labels": {label: OLD_REV}, "tags": []}), json.dumps({"kind": "image", "id": NEW, "labels": {label: NEW_REV}, "tags": ["app_django:latest"]})]


def observed(*lines: str) -> Observed:
    build = (".", "Dockerfile")
    services = {"django": ServiceConfig("django", "app_django", build), "celeryworker": ServiceConfig("celeryworker", "app_django", build), "nginx": ServiceConfig("nginx", "nginx", None)}
    config = ComposeConfig("app", services)
    return Observed(NEW_REV, (), None, None, config, tuple(parse_containers("\n".join([*lines, *images()]))))


def test_half_way_through_a_rollout_the_oldest_container_is_what_serves_whatever_the_names_sort_as():
    # The 9th container is the old one, the 10th the killed run's new one: as strings,
    # `app-django-10` sorts first.
    seen = observed(container(10, NEW), container(9, OLD))
    serving = seen.serving(["django"], "django")
    assert serving.images == {"app_django": OLD}
    assert [c.number for c in seen.containers] == [9, 10]


def test_the_killed_runs_new_containers_are_the_ones_beside_what_its_journal_says_served():
    seen = observed(container(9, OLD), container(10, NEW), container(3, OLD, "celeryworker"), container(4, NEW, "celeryworker"), container(1, "sha256:nginx", "nginx"))
    group = group_of(seen.config, "django", "docker-compose.production.yml")
    killed = Journal(token="t", kind="deploy", user="me", ref="main", started="2026-12-02T18:00:00Z", serving=OLD_REV, serving_images={"app_django": OLD}, target=NEW_REV, step="rollout")
    view = HostView(seen, group, seen.serving(group.services, "django"))
    assert sorted(c.name for c in started_beside(view, killed)) == ["app-celeryworker-4", "app-django-10"]


def test_a_rollout_that_had_finished_leaves_nothing_to_stop():
    # Only the new image runs: the old containers were gone when the run was killed,
    # so the new ones are what serves, and they stay.
    seen = observed(container(10, NEW))
    group = group_of(seen.config, "django", "docker-compose.production.yml")
    killed = Journal(token="t", kind="deploy", user="me", ref="main", started="2026-12-02T18:00:00Z", serving=OLD_REV, serving_images={"app_django": OLD}, target=NEW_REV, step="rollout")
    assert started_beside(HostView(seen, group, seen.serving(group.services, "django")), killed) == []
    # Without a journal entry for what served (a first deploy), nothing either.
    first = Journal(token="t", kind="deploy", user="me", ref="main", started="2026-12-02T18:00:00Z", target=NEW_REV, step="rollout")
    assert started_beside(HostView(seen, group, seen.serving(group.services, "django")), first) == []

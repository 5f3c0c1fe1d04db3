"""Whether a redeploy has nothing to do, decided from the one read before the lock."""

import dataclasses
import json

from tasks.facts import compose
from tasks.facts.host_state import Container, Observed
from tasks.records import LockState, Outcome, Release
from tasks.steps.look import Look, serves_already

REVISION = "a" * 40
OTHER = "b" * 40
CONFIG = compose.parse_config(
    json.dumps(
        {
            "name": "shop",
            "services": {
                "django": {"build": {"context": "/srv/shop"}, "image": "shop_django"},
                "celeryworker": {"build": {"context": "/srv/shop"}, "image": "shop_worker"},
                "postgres": {"image": "postgres:15"},
            },
        }
    )
)


def container(service, image, tag, revision=REVISION, **changes):
    found = Container(id=f"{service}-1", name=f"shop-{service}-1", service=service, oneoff=False, state="running", health="", image_id=image, revision=revision, image_tags=(tag, f"{tag}-old"))
    return dataclasses.replace(found, **changes)


def deployed(revision=REVISION, config=CONFIG.fingerprint, result=Outcome.OK):
    return Release(kind="deploy", host="web", user="me", ref="main", started="2026-11-26T10:00:00Z", revision=revision, result=result, config=config)


def seen(**changes):
    observed = Observed(
        checkout=REVISION,
        dirty=(),
        lock=None,
        journal=None,
        config=CONFIG,
        containers=(
            container("django", "sha256:d", "shop_django:latest", health="healthy"),
            container("celeryworker", "sha256:w", "shop_worker:latest"),
            container("postgres", "sha256:p", "postgres:15", revision=None),
        ),
        releases=(deployed(),),
    )
    resolved = changes.pop("resolved", REVISION)
    return Look([], dataclasses.replace(observed, **changes), resolved)


def test_the_ref_running_as_a_deploy_leaves_it_has_nothing_to_do():
    assert serves_already(seen(), "django", "compose.yml") == REVISION


def test_a_container_inside_its_first_healthcheck_interval_is_serving_already():
    running = seen().observed.containers
    starting = seen(containers=(dataclasses.replace(running[0], health="starting"), *running[1:]))
    assert serves_already(starting, "django", "compose.yml") == REVISION


def test_anything_else_goes_the_whole_way():
    running = seen().observed.containers
    cases = {
        "origin moved on": seen(resolved=OTHER),
        "origin not asked": seen(resolved=None),
        "checkout moved by hand": seen(checkout=OTHER),
        "uncommitted changes": seen(dirty=("notes/views.py",)),
        "a lock": seen(lock=LockState(None)),
        "configuration edited since": seen(releases=(deployed(config="0" * 16),)),
        "configuration not recorded": seen(releases=(deployed(config=""),)),
        "never deployed by composeship": seen(releases=()),
        "its post-deploy migrations failed": seen(releases=(deployed(result=Outcome.POST_DEPLOY_FAILED),)),
        "a service down": seen(containers=running[:2]),
        "a container unhealthy": seen(containers=(dataclasses.replace(running[0], health="unhealthy"), *running[1:])),
        "a container stopped": seen(containers=(*running[:2], dataclasses.replace(running[2], state="exited"))),
        "the worker on another revision": seen(containers=(running[0], dataclasses.replace(running[1], revision=OTHER), running[2])),
        "an image name moved to another image": seen(containers=(*running[:2], dataclasses.replace(running[2], image_tags=("postgres:14",)))),
        "a worker image built by hand since": seen(containers=(running[0], dataclasses.replace(running[1], image_tags=()), running[2])),
        "a one-off container running": seen(containers=(*running, container("django", "sha256:d", "shop_django:latest", id="run-1", oneoff=True))),
        "nothing readable": Look([], None, REVISION),
    }
    for why, look in cases.items():
        assert serves_already(look, "django", "compose.yml") is None, why


def test_a_compose_file_without_the_django_service_is_left_to_the_whole_way_to_explain():
    assert serves_already(seen(), "web", "compose.yml") is None

"""tasks/engine.py: which engine a host's settings pick, and what each answers as data —
where postgres is reached, what setup checks, which rows status shows — with the swarm's
recovery decision (does a killed run's stack go back) as cases."""

import json

import pytest

from tasks.engine import COMPOSE, SWARM, engine_of, stack_changed_by
from tasks.facts.host_state import Serving, parse_containers
from tasks.records import Journal
from tests.unit.recorded_host import RecordedHost, web1

OLD_REV, NEW_REV = "1" * 40, "2" * 40


def test_the_setting_picks_the_engine(tmp_path):
    assert engine_of(web1(tmp_path, RecordedHost({}))) is COMPOSE
    assert engine_of(web1(tmp_path, RecordedHost({}), DEPLOY_ENGINE="swarm", DEPLOY_COMPOSE_PROJECT="shop")) is SWARM


def test_postgres_is_reached_in_its_container_or_in_its_task_on_the_manager(tmp_path):
    on_compose = web1(tmp_path, RecordedHost({}), DEPLOY_COMPOSE_PROJECT="shop")
    assert COMPOSE.in_postgres(on_compose, "backup") == ["docker", "compose", "-p", "shop", "-f", "docker-compose.production.yml", "exec", "-T", "postgres", "backup"]
    on_swarm = web1(tmp_path, RecordedHost({}), DEPLOY_ENGINE="swarm", DEPLOY_COMPOSE_PROJECT="shop")
    assert SWARM.in_postgres(on_swarm, "backup")[-2:] == ["shop_postgres", "backup"]
    assert (COMPOSE.postgres_where, SWARM.postgres_where) == ("service", "task on this manager")


def test_setup_checks_the_manager_and_the_registry_only_on_a_swarm(tmp_path):
    assert COMPOSE.setup_checks(web1(tmp_path, RecordedHost({}))) == []
    bare = web1(tmp_path, RecordedHost({}), DEPLOY_ENGINE="swarm", DEPLOY_COMPOSE_PROJECT="shop")
    assert [name for name, _ in SWARM.setup_checks(bare)] == ["swarm"]
    registry = web1(tmp_path, RecordedHost({}), DEPLOY_ENGINE="swarm", DEPLOY_COMPOSE_PROJECT="shop", DEPLOY_REGISTRY="10.0.0.5:5000")
    assert [name for name, _ in SWARM.setup_checks(registry)] == ["swarm", "registry"]


def test_compose_status_rows_are_its_containers(tmp_path):
    labels = {"com.docker.compose.service": "django", "com.docker.compose.oneoff": "False", "com.docker.compose.project": "shop"}
    line = json.dumps({"kind": "container", "id": "c1", "name": "/shop-django-1", "image": "sha256:d1", "state": {"Status": "running"}, "labels": labels, "cmd": []})
    from tasks.facts.host_state import Observed

    observed = Observed(OLD_REV, (), None, None, None, tuple(parse_containers(line)))
    rows = COMPOSE.status_rows(web1(tmp_path, RecordedHost({})), observed)
    assert [(row["service"], row["container"], row["state"], row["oneoff"]) for row in rows] == [("django", "shop-django-1", "running", False)]


@pytest.mark.parametrize(
    "serving, served_before, expected",
    [
        pytest.param(Serving(NEW_REV, {"app_django": "sha256:b"}), OLD_REV, True, id="its stack deploy had begun: the spec names its release"),
        pytest.param(Serving(OLD_REV, {"app_django": "sha256:a"}, not_ready=("django",)), OLD_REV, True, id="an update left unsettled"),
        pytest.param(Serving(OLD_REV, {"app_django": "sha256:a"}), OLD_REV, False, id="stopped before its stack deploy: the stack is as it was"),
        pytest.param(Serving(NEW_REV, {"app_django": "sha256:b"}), None, False, id="nothing served before it: what runs is all there is"),
    ],
)
def test_on_a_swarm_recovery_puts_the_stack_back_when_the_killed_run_had_changed_it(serving, served_before, expected):
    killed = Journal("t", "deploy", "ann", "main", "2026-12-04T01:00:00Z", step="restart", serving=served_before, serving_images={"app_django": "sha256:a"} if served_before else {}, target=NEW_REV)
    assert stack_changed_by(serving, killed) is expected

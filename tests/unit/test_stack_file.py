"""steps/stack_file.py: the stack file made from the example's resolved configuration
(docker-compose.production.yml with docker-compose.swarm.yml, as `docker compose
config --format json` gives it), checked by exact value where `docker stack deploy`
refuses Compose's output."""

import json
from pathlib import Path

from tasks.steps.stack_file import stack_document

CONFIG = json.loads((Path(__file__).parent / "recorded" / "swarm-config.json").read_text())
PINNED = {"django": "example_production_django:0123456789ab", "celeryworker": "example_production_celeryworker:0123456789ab"}


def stack():
    return stack_document(CONFIG, PINNED)


def test_built_services_run_the_releases_image_and_nothing_is_built():
    services = stack()["services"]
    assert services["django"]["image"] == "example_production_django:0123456789ab"
    assert services["celeryworker"]["image"] == "example_production_celeryworker:0123456789ab"
    assert services["postgres"]["image"] == "example_production_postgres"
    assert not any("build" in body or "container_name" in body for body in services.values())


def test_what_docker_stack_deploy_refuses_is_converted():
    document = stack()
    assert "name" not in document and "x-django" not in document
    assert document["version"] == "3.8"
    assert document["services"]["django"]["depends_on"] == ["postgres"]
    assert document["services"]["nginx"]["ports"] == [{"mode": "host", "target": 80, "published": 8123, "protocol": "tcp"}]
    assert document["volumes"] == {"production_postgres_data": {}, "production_postgres_data_backups": {}}
    assert not any("networks" in body or body.get("entrypoint", "") is None for body in document["services"].values())


def test_one_attachable_overlay_network_for_the_one_off_migrate_container():
    assert stack()["networks"] == {"default": {"driver": "overlay", "attachable": True}}


def test_start_first_unless_the_override_says_otherwise_or_a_host_port_forbids_it():
    services = stack()["services"]
    assert services["django"]["deploy"]["update_config"] == {"failure_action": "rollback", "monitor": "5s", "order": "start-first"}
    assert services["postgres"]["deploy"]["update_config"] == {"order": "start-first", "failure_action": "rollback"}
    # Two tasks cannot bind one host port on a node: the proxy is stopped first.
    assert "update_config" not in services["nginx"]["deploy"]
    own = json.loads(json.dumps(CONFIG))
    own["services"]["django"]["deploy"]["update_config"] = {"order": "stop-first"}
    assert stack_document(own, PINNED)["services"]["django"]["deploy"]["update_config"] == {"order": "stop-first", "failure_action": "rollback"}


def test_the_services_settings_pass_through_unchanged():
    django = stack()["services"]["django"]
    assert django["command"] == ["/start"] and django["deploy"]["replicas"] == 2 and django["deploy"]["endpoint_mode"] == "dnsrr"
    assert django["healthcheck"] == CONFIG["services"]["django"]["healthcheck"]
    assert django["environment"] == CONFIG["services"]["django"]["environment"]
    assert "resources" not in django["deploy"] and "placement" not in django["deploy"]


def test_the_input_is_not_changed():
    before = json.dumps(CONFIG, sort_keys=True)
    stack()
    assert json.dumps(CONFIG, sort_keys=True) == before

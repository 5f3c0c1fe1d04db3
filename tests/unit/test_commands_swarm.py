"""commands/swarm.py and the one-off container on a swarm, by exact value."""

import subprocess

from tasks.commands import compose, swarm
from tasks.commands.compose import ComposeProject


def test_the_stack_is_deployed_without_waiting_and_without_a_registry_lookup_on_one_node():
    argv = swarm.stack_deploy("shop", "/srv/shop/.git/composeship/stack.json", registry=False)
    assert argv[4:] == ["--prune", "--resolve-image", "never", "-c", "/srv/shop/.git/composeship/stack.json", "shop"]
    assert swarm.stack_deploy("shop", "stack.json", registry=True)[4:8] == ["--prune", "--with-registry-auth", "--resolve-image", "always"]


def test_detach_is_asked_for_only_of_a_cli_that_knows_the_flag(tmp_path):
    """CLI 26 and later know `--detach` (and may one day wait by default); Debian 12's
    20.10 refuses it, and never waits."""
    calls = tmp_path / "calls"
    for help_text in ("  -d, --detach   Exit immediately\n", "  -c, --compose-file\n"):
        fake = tmp_path / "docker"
        fake.write_text(f'#!/bin/sh\ncase "$*" in *--help*) printf "{help_text}";; *) echo "$*" >> {calls};; esac\n')
        fake.chmod(0o755)
        subprocess.run(swarm.stack_deploy("shop", "stack.json", registry=False), check=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert calls.read_text().splitlines() == [
        "stack deploy --detach=true --prune --resolve-image never -c stack.json shop",
        "stack deploy --prune --resolve-image never -c stack.json shop",
    ]


def test_a_one_off_container_on_a_swarm_joins_the_stacks_network_and_starts_nothing_else():
    project = ComposeProject("docker-compose.production.yml:docker-compose.swarm.yml", project_name="shop", network_file="/srv/shop/.git/composeship/swarm-network.yml")
    assert compose.migrate(project, noinput=True) == [
        "docker", "compose", "-p", "shop", "-f", "docker-compose.production.yml", "-f", "docker-compose.swarm.yml", "-f", "/srv/shop/.git/composeship/swarm-network.yml",
        "run", "--no-deps", "--rm", "django", "python", "manage.py", "migrate", "--noinput",
    ]  # fmt: skip
    # Compose's own: no network file, dependencies started as usual.
    assert compose.migrate(ComposeProject("docker-compose.production.yml"))[:6] == ["docker", "compose", "-f", "docker-compose.production.yml", "run", "--rm"]


def test_the_services_of_an_empty_stack_are_an_empty_list(tmp_path):
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\n[ "$1" = stack ] && exit 0\necho unexpected >&2; exit 9\n')
    fake.chmod(0o755)
    found = subprocess.run(swarm.stack_services("shop"), capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert (found.returncode, found.stdout.strip()) == (0, "[]")


def test_only_the_swarm_engine_gives_one_off_containers_the_network_file(tmp_path):
    from tasks.settings import load

    environ = {"DEPLOY_CONFIG_DIR": str(tmp_path), "DEPLOY_PATH": "/srv/shop", "DEPLOY_COMPOSE_PROJECT": "shop"}
    on_swarm = load("production", host="web1", environ={**environ, "DEPLOY_ENGINE": "swarm"})
    assert ComposeProject.from_settings(on_swarm).network_file == "/srv/shop/.git/composeship/swarm-network.yml"
    assert ComposeProject.from_settings(load("production", host="web1", environ=environ)).network_file is None


def test_a_release_image_is_pushed_under_its_tag_and_named_by_the_digest_the_registry_gave():
    from tasks.facts.swarm import parse_digest

    argv = swarm.push("shop_django:0123456789ab", "127.0.0.1:5000/shop_django:0123456789ab")
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["shop_django:0123456789ab", "127.0.0.1:5000/shop_django:0123456789ab"]
    listed = "127.0.0.1:5000/other@sha256:aaa\n127.0.0.1:5000/shop_django@sha256:bbb\n"
    assert parse_digest(listed, "127.0.0.1:5000/shop_django:0123456789ab") == "127.0.0.1:5000/shop_django@sha256:bbb"


def test_a_push_that_gave_no_digest_is_an_error_that_names_the_image():
    import pytest

    from tasks.errors import DeployError
    from tasks.facts.swarm import parse_digest

    with pytest.raises(DeployError) as caught:
        parse_digest("", "127.0.0.1:5000/shop_django:0123456789ab")
    assert "the registry gave no digest for 127.0.0.1:5000/shop_django:0123456789ab" in str(caught.value)


def test_images_are_looked_up_by_the_reference_a_spec_names(tmp_path):
    from tasks.facts.swarm import parse_references

    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\ncase "$5" in *missing*) exit 1;; esac\necho "sha256:abc 0123"\n')
    fake.chmod(0o755)
    argv = swarm.images_by_reference(["reg:5000/shop_django@sha256:ff", "reg:5000/missing:1", "shop_{{.Id}}:x"])
    found = subprocess.run(argv, capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert found.stdout.splitlines() == ["reg:5000/shop_django@sha256:ff sha256:abc 0123", "shop_{{.Id}}:x sha256:abc 0123"]
    assert parse_references(found.stdout)["reg:5000/shop_django@sha256:ff"].revision == "0123"


def test_a_command_in_the_postgres_task_runs_in_its_container_on_this_node(tmp_path):
    assert swarm.exec_in_task("shop_postgres", "backup") == [
        "sh", "-c",
        'c=$(docker ps -q --filter "label=com.docker.swarm.service.name=$0" --filter status=running | head -n 1); [ -n "$c" ] || exit 3; exec docker exec "$c" "$@"',
        "shop_postgres", "backup",
    ]  # fmt: skip
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\n[ "$1" = ps ] && exit 0\necho unexpected >&2; exit 9\n')
    fake.chmod(0o755)
    none_here = subprocess.run(swarm.exec_in_task("shop_postgres", "backup"), capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert none_here.returncode == 3, "no task on this node: a distinct exit, nothing run"


def test_the_logs_of_several_services_at_once_with_their_flags_quoted():
    assert swarm.logs(["shop_django", "shop_nginx"], follow=True, since="10m", tail=5) == [
        "sh", "-c", 'for s; do docker service logs --follow --since 10m --tail 5 "$s" & done; wait', "sh", "shop_django", "shop_nginx",
    ]  # fmt: skip
    assert "'1 day; rm -rf /'" in swarm.logs(["shop_django"], since="1 day; rm -rf /")[2]

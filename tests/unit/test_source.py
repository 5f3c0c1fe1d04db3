"""steps/source.py: a checkout is refused, before git moves, when a compose file the
settings name is not in the commit."""

import pytest
from invoke import Result

from tasks.errors import HostError
from tasks.steps import source
from tests.unit.recorded_host import RecordedHost, web1

FILES = "docker-compose.production.yml:docker-compose.swarm.yml"


def test_every_compose_file_in_the_commit_is_checked_out(tmp_path):
    listed = Result("docker-compose.production.yml\ndocker-compose.swarm.yml\n")
    host = RecordedHost({r"git ls-tree --name-only abc123 -- docker-compose.production.yml docker-compose.swarm.yml": listed, r"git checkout": Result("")})
    source.checkout(web1(tmp_path, host, DEPLOY_COMPOSE_FILE=FILES), "abc123", "main")
    assert any("git checkout --quiet --detach abc123" in command for command in host.commands)


def test_an_override_missing_from_the_commit_is_named_and_nothing_is_checked_out(tmp_path):
    host = RecordedHost({r"git ls-tree --name-only": Result("docker-compose.production.yml\n")})
    with pytest.raises(HostError) as caught:
        source.checkout(web1(tmp_path, host, DEPLOY_COMPOSE_FILE=FILES), "abc123", "main")
    assert str(caught.value).startswith("docker-compose.swarm.yml does not exist at main (abc123)")
    assert not any("git checkout" in command for command in host.commands)

"""steps/preflight.py's verdict from its batch of reads, as data: each read's answer in,
the state to go on from or the one error line that says what to fix out."""

import pytest
from invoke import MockContext

from tasks.errors import DeployError
from tasks.executor import Result
from tasks.steps.preflight import HostState, judge
from tests.unit.recorded_host import web1

REVISION = "c" * 40
DF = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 41152736 1000 {free} 10% /\n"


def target(tmp_path, **settings):
    return web1(tmp_path, MockContext(), DEPLOY_HEALTHCHECK_URL="http://127.0.0.1/health/", **settings)


def answers(**changes):
    """The batch's results by its keys, as a healthy host with a clean checkout gives them."""
    ok = {
        "docker": Result("docker version", "24.0.7\n", "", 0),
        "compose": Result("docker compose version", "2.24.0\n", "", 0),
        "git": Result("command -v git", "/usr/bin/git\n", "", 0),
        "checkout": Result("test -f .git/HEAD", "", "", 0),
        "head": Result("git rev-parse HEAD", REVISION + "\n", "", 0),
        "compose files": Result("test -f docker-compose.production.yml", "", "", 0),
        "status": Result("git status --porcelain", "", "", 0),
        "disk": Result("df -Pk", DF.format(free=20 * 1024 * 1024), "", 0),
        "curl": Result("command -v curl", "/usr/bin/curl\n", "", 0),
    }
    ok.update(changes)
    return ok


def failed(command, stderr="", exited=1):
    return Result(command, "", stderr, exited)


def test_a_healthy_host_goes_on_from_its_checkout(tmp_path):
    assert judge(target(tmp_path), answers()) == HostState(True, REVISION)


def test_no_checkout_is_a_first_deploy_only_with_a_repository_url(tmp_path):
    none = answers(checkout=failed("test -f .git/HEAD"), head=failed("git rev-parse HEAD"))
    assert judge(target(tmp_path, DEPLOY_REPO_URL="git@example.com:shop.git"), none) == HostState(False, None)
    with pytest.raises(DeployError) as caught:
        judge(target(tmp_path), none)
    assert str(caught.value) == "DEPLOY_PATH /srv/shop on web1 is not a git checkout — clone your project there, or set DEPLOY_REPO_URL so that deploy clones it"
    with pytest.raises(DeployError) as caught:
        judge(target(tmp_path, DEPLOY_REPO_URL="git@example.com:shop.git"), none, first_deploy=False)
    assert str(caught.value).endswith("clone your project there, or run `deploy` first")


@pytest.mark.parametrize(
    "changes, expected",
    [
        pytest.param({"git": failed("command -v git")}, "git is not installed on web1 — install git on the server", id="no git"),
        pytest.param(
            {"compose files": failed("test -f docker-compose.production.yml")},
            "compose file docker-compose.production.yml is missing in /srv/shop on web1 — commit it to your repository, or set DEPLOY_COMPOSE_FILE to the file you use",
            id="no compose file",
        ),
        pytest.param(
            {"status": Result("git status --porcelain", " M notes/views.py\n?? notes/scratch.py\n", "", 0)},
            "the checkout /srv/shop on web1 has uncommitted changes: notes/views.py, notes/scratch.py — commit them to your repository or discard them on the server; a deploy never overwrites them",
            id="uncommitted changes",
        ),
        pytest.param(
            {"disk": Result("df -Pk", DF.format(free=512 * 1024), "", 0)},
            "only 512 MiB free for /srv/shop on web1 — free some space (e.g. `docker image prune`) or lower DEPLOY_MIN_FREE_DISK_MB (now 1024)",
            id="little free disk",
        ),
        pytest.param({"curl": failed("command -v curl")}, "curl is not installed on web1 — install curl: the health gate polls DEPLOY_HEALTHCHECK_URL with it", id="no curl for the health gate"),
    ],
)
def test_what_stops_a_deploy_before_it_locks(tmp_path, changes, expected):
    with pytest.raises(DeployError) as caught:
        judge(target(tmp_path), answers(**changes))
    assert str(caught.value) == expected


def test_uncommitted_changes_pass_where_a_clean_checkout_is_not_required(tmp_path):
    dirty = answers(status=Result("git status --porcelain", " M notes/views.py\n", "", 0))
    assert judge(target(tmp_path), dirty, require_clean=False) == HostState(True, REVISION)


def test_an_engine_that_does_not_answer_is_the_executors_diagnosis(tmp_path):
    down = failed("docker version --format {{.Server.Version}}", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
    with pytest.raises(DeployError) as caught:
        judge(target(tmp_path), answers(docker=down))
    assert "docker" in str(caught.value).lower() and "web1" in str(caught.value)

"""`fab -H HOST setup`: its builders by exact value, its parsers on recorded output, and
the whole task against a recorded host (a printing executor for the dry run)."""

import io
import re
from pathlib import Path

import pytest
from invoke import Result

from tasks.commands import host
from tasks.errors import HostError
from tasks.executor import Executor, PrintingExecutor
from tasks.facts import host as host_facts
from tasks.pipelines.setup import setup
from tasks.report import Report
from tasks.settings import load
from tasks.steps.setup import compose_project_name
from tasks.target import Target
from tests.unit.recorded_host import RecordedHost

RECORDED = Path(__file__).parent / "recorded"
HEAD = "1" * 40
NEW = "2" * 40
EXAMPLE_COMPOSE = (Path(__file__).resolve().parents[2] / "example" / "docker-compose.production.yml").read_text()


def test_builders():
    assert host.make_dir("/srv/my shop") == ["mkdir", "-p", "--", "/srv/my shop"]
    assert host.who_am_i() == ["id", "-un"]
    assert host.is_dir("/srv/shop") == ["test", "-d", "/srv/shop"]
    assert host.is_empty_dir("/srv/shop") == ["sh", "-c", '[ -d "$0" ] && [ -z "$(ls -A -- "$0")" ]', "/srv/shop"]
    assert host.listening_sockets() == ["sh", "-c", "cat /proc/net/tcp; cat /proc/net/tcp6 2>/dev/null; exit 0"]
    assert host.published_by_containers() == ["docker", "ps", "--format", '{{.Label "com.docker.compose.project"}}\t{{.Names}}\t{{.Ports}}']


def test_listening_ports_from_recorded_proc_net_tcp():
    # IPv4 listeners 37075, 2024, 52945 and IPv6 ones 37075, 8080; the established
    # connection from port 60853 is no listener.
    assert host_facts.parse_listening_ports((RECORDED / "proc_net_tcp.txt").read_text()) == {37075, 2024, 52945, 8080}
    assert host_facts.parse_listening_ports("") == set()


def test_published_ports_from_recorded_docker_ps():
    found = host_facts.parse_published((RECORDED / "docker_ps_ports.txt").read_text())
    assert found == {37075: [("example", "example-django-1")], 8080: [("", "proxy")], 8081: [("", "proxy")]}


@pytest.mark.parametrize("path, expected", [("/srv/My Shop", "myshop"), ("/home/deploy/apps/example-1a2b", "example-1a2b"), ("/srv/_x.y", "xy")])
def test_compose_project_name_follows_compose(path, expected, tmp_path):
    t = target(tmp_path, {}, DEPLOY_PATH=path)
    assert compose_project_name(t) == expected


def ready_host(**changes):
    """A server with Docker, Compose, git and curl, and a checkout of the example."""
    answers = {
        r"docker version": Result("20.10.24\n"),
        r"docker compose version": Result("v2.26.1\n"),
        r"sh -c 'command -v \"\$0\" >/dev/null' git": Result(""),
        r"sh -c 'command -v \"\$0\" >/dev/null' curl": Result(""),
        r"id -un": Result("deploy\n"),
        r"test -f /srv/shop/.git/HEAD": Result(""),
        r"cd /srv/shop && git rev-parse --verify --quiet": Result(HEAD + "\n"),
        r"test -d /srv/shop": Result(""),
        r"sh -c '\[ -d \"\$0\" \] && \[ -z": Result(exited=1),
        r"sh -c 'd=\"\$0\"; while": Result("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 100 1 9999999 1% /\n"),
        r"cat /srv/shop/docker-compose.production.yml": Result(EXAMPLE_COMPOSE),
        r"sh -c '\[ ! -e \"\$0\" \] \|\| cat \"\$0\"' /srv/shop/.env": Result("DJANGO_PUBLISHED_PORT=8123\n"),
        r"sh -c 'cat /proc/net/tcp": Result((RECORDED / "proc_net_tcp.txt").read_text()),
        r"docker ps --format": Result("other\tother-web-1\t0.0.0.0:8123->80/tcp\n"),
        r"test -f /srv/shop/.envs/.production/.django": Result(""),
        r"test -f /srv/shop/.envs/.production/.postgres": Result(exited=1),
    }
    answers.update(changes)
    return RecordedHost(answers)


def target(tmp_path, recorded, dry_run=False, **environ):
    environ = {"DEPLOY_CONFIG_DIR": str(tmp_path), "DEPLOY_PATH": "/srv/shop", **environ}
    settings = load("production", host="web1", environ=environ)
    out = io.StringIO()
    executor = (PrintingExecutor if dry_run else Executor)(recorded, host="web1", out=out)
    return Target("web1", settings, executor, Report("setup", "web1", dry_run=dry_run, out=out))


def run_setup(t):
    with t.report:
        return setup(t)


def test_existing_checkout_lists_each_missing_env_file_and_taken_port(tmp_path):
    recorded = ready_host()
    t = target(tmp_path, recorded)
    with pytest.raises(HostError) as caught:
        run_setup(t)
    assert str(caught.value) == "web1 is not ready for a deploy: 2 thing(s) missing, listed above — add them, then run `fab -H web1 setup` again"
    out = t.report.out.getvalue()
    assert "  - .envs/.production/.postgres is missing in /srv/shop on web1 (env_file of django, postgres, celeryworker) — create it there" in out
    assert "  - port 8123 (published by nginx) is in use on web1 by container other-web-1 — free it, or set DJANGO_PUBLISHED_PORT in /srv/shop/.env to a free port" in out
    assert "checkout at 111111111111, left as it is" in out
    assert "(Docker 20.10.24, Compose 2.26.1, git, as deploy)" in out
    # Nothing but read-only commands: the checkout is there, so nothing is cloned.
    assert not [c for c in recorded.commands if re.search(r"mkdir|git init|git fetch|git checkout|git remote", c)]


def test_ready_when_the_port_is_this_projects_own(tmp_path):
    recorded = ready_host(
        **{
            r"test -f /srv/shop/.envs/.production/.postgres": Result(""),
            r"docker ps --format": Result("shop\tshop-django-1\t0.0.0.0:8123->5000/tcp, [::]:8123->5000/tcp\n"),
        }
    )
    t = target(tmp_path, recorded)
    assert run_setup(t) == []
    assert "web1 is ready: deploy with `fab -H web1 deploy`" in t.report.out.getvalue()


def test_a_port_another_program_listens_on(tmp_path):
    recorded = ready_host(
        **{
            r"test -f /srv/shop/.envs/.production/.postgres": Result(""),
            r"sh -c '\[ ! -e \"\$0\" \] \|\| cat \"\$0\"' /srv/shop/.env": Result("DJANGO_PUBLISHED_PORT=2024\n"),
        }
    )
    t = target(tmp_path, recorded)
    with pytest.raises(HostError, match="1 thing"):
        run_setup(t)
    assert "port 2024 (published by nginx) is in use on web1 by another program" in t.report.out.getvalue()


def test_docker_the_user_may_not_use_and_no_git(tmp_path):
    denied = "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock"
    recorded = ready_host(
        **{
            r"docker version": Result(stderr=denied, exited=1),
            r"docker compose version": Result(stderr=denied, exited=1),
            r"sh -c 'command -v \"\$0\" >/dev/null' git": Result(exited=1),
            r"test -f /srv/shop/.git/HEAD": Result(exited=1),
            r"cd /srv/shop && git rev-parse": Result(exited=1),
        }
    )
    t = target(tmp_path, recorded, DEPLOY_REPO_URL="git@example.com:me/shop.git")
    with pytest.raises(HostError, match="2 thing"):
        run_setup(t)
    out = t.report.out.getvalue()
    assert "  - the user on web1 may not use Docker — add the user to the `docker` group and log in again" in out
    assert "  - git is not installed on web1 — install git on the server" in out
    assert "--- needs [web1] skipped: no checkout to read the compose file from" in out
    assert re.search(r"<== tools \[web1\] missing in [\d.]+s \(as deploy\)", out)


def test_no_checkout_and_no_repo_url(tmp_path):
    recorded = ready_host(**{r"test -f /srv/shop/.git/HEAD": Result(exited=1), r"cd /srv/shop && git rev-parse": Result(exited=1)})
    t = target(tmp_path, recorded)
    with pytest.raises(HostError, match="1 thing"):
        run_setup(t)
    assert "/srv/shop on web1 is not a git checkout, and DEPLOY_REPO_URL is not set — set DEPLOY_REPO_URL" in t.report.out.getvalue()


def test_a_folder_the_user_cannot_create(tmp_path):
    recorded = ready_host(
        **{
            r"test -f /srv/shop/.git/HEAD": Result(exited=1),
            r"cd /srv/shop && git rev-parse": Result(exited=1),
            r"test -d /srv/shop": Result(exited=1),
            r"mkdir -p -- /srv/shop": Result(stderr="mkdir: cannot create directory '/srv/shop': Permission denied\n", exited=1),
        }
    )
    t = target(tmp_path, recorded, DEPLOY_REPO_URL="git@example.com:me/shop.git")
    with pytest.raises(HostError):
        run_setup(t)
    assert (
        "cannot create /srv/shop on web1 as deploy: mkdir: cannot create directory '/srv/shop': Permission denied — "
        "create it as root and hand it over: `sudo install -d -o deploy /srv/shop`, then run setup again"
    ) in t.report.out.getvalue()


def test_dry_run_prints_the_clone_and_changes_nothing(tmp_path):
    recorded = ready_host(
        **{
            r"test -f /srv/shop/.git/HEAD": Result(exited=1),
            r"cd /srv/shop && git rev-parse": Result(exited=1),
            r"test -d /srv/shop": Result(exited=1),
            r"git ls-remote .* git@example.com:me/shop.git main": Result(f"{NEW}\trefs/heads/main\n"),
            r"cd /srv/shop && git ls-tree": Result(exited=128),
        }
    )
    t = target(tmp_path, recorded, dry_run=True, DEPLOY_REPO_URL="git@example.com:me/shop.git")
    assert run_setup(t) == []
    commands = [line for line in t.report.out.getvalue().splitlines() if line and not line.startswith("#")]
    assert commands == [
        "mkdir -p -- /srv/shop",
        "git init -q -- /srv/shop",
        "cd /srv/shop && sh -c 'git remote get-url origin >/dev/null 2>&1 || git remote add origin \"$0\"' git@example.com:me/shop.git",
        "cd /srv/shop && timeout 900 git fetch --quiet --prune --tags --force origin",
        f"cd /srv/shop && git checkout --quiet --detach {NEW}",
    ]
    assert "# --- needs [web1] skipped: read from the checkout once it is cloned (a dry run does not clone)" in t.report.out.getvalue()
    # Only read-only commands reached the host.
    assert all(re.search(r"docker|command -v|id -un|test -|git rev-parse|df -Pk|ls -A|git ls-remote|git ls-tree", c) for c in recorded.commands)


def test_a_repository_without_a_commit_is_a_first_clone_stopped_half_way_and_is_finished(tmp_path):
    """`.git/HEAD` is there but names no commit (a setup stopped after `git init`): the
    dry run shows the clone being finished, not a checkout left as it is."""
    recorded = ready_host(
        **{
            r"cd /srv/shop && git rev-parse --verify --quiet": Result(exited=1),
            r"git ls-remote .* git@example.com:me/shop.git main": Result(f"{NEW}\trefs/heads/main\n"),
            r"cd /srv/shop && git ls-tree": Result(exited=128),
        }
    )
    t = target(tmp_path, recorded, dry_run=True, DEPLOY_REPO_URL="git@example.com:me/shop.git")
    assert run_setup(t) == []
    out = t.report.out.getvalue()
    assert "left as it is" not in out
    commands = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert commands[1:3] == ["git init -q -- /srv/shop", "cd /srv/shop && sh -c 'git remote get-url origin >/dev/null 2>&1 || git remote add origin \"$0\"' git@example.com:me/shop.git"]
    assert commands[-1] == f"cd /srv/shop && git checkout --quiet --detach {NEW}"


@pytest.mark.parametrize(
    "swarm, listed",
    [
        pytest.param('{"LocalNodeState":"inactive","ControlAvailable":false}', "the Docker Engine on web1 is not in a swarm (DEPLOY_ENGINE=swarm) — run `docker swarm init` on web1", id="no swarm"),
        pytest.param('{"LocalNodeState":"active","ControlAvailable":false}', "web1 is a swarm worker, and only a manager deploys a stack — deploy with -H one of the swarm's managers", id="a worker"),
        pytest.param('{"LocalNodeState":"active","ControlAvailable":true}', None, id="a manager"),
    ],
)
def test_on_a_swarm_setup_checks_that_the_host_is_an_active_manager(tmp_path, swarm, listed):
    recorded = ready_host(**{r"docker info --format": Result(swarm), r"test -f /srv/shop/.envs/.production/.postgres": Result(""), r"docker ps --format": Result("")})
    t = target(tmp_path, recorded, DEPLOY_ENGINE="swarm", DEPLOY_COMPOSE_PROJECT="shop")
    if listed is None:
        run_setup(t)
        assert "an active manager; the stack will be shop" in t.report.out.getvalue()
        return
    with pytest.raises(HostError):
        run_setup(t)
    assert f"  - {listed}" in t.report.out.getvalue()

"""What must not happen on a server: a dry run that changes something, a connection
to an unverified host, bad input that reaches a shell or half-changes a host."""

import shlex
import subprocess
from pathlib import Path

import pytest

from tasks.commands import git
from tasks.commands.compose import MIGRATE_MARK, ComposeProject, build_labelled

from .helpers import assert_one_error_line, free_port
from .remote import MIGRATION_0002, as_user


def host_snapshot(project) -> dict:
    """Everything a deploy could change on the host, as an operator would look at it."""

    def run(*argv):
        return subprocess.run(argv, capture_output=True, text=True).stdout

    git = ["runuser", "-u", project.host["user"], "--", "git", "-C", project.path]
    state = Path(project.path) / ".git" / "composeship"
    label = f"label=com.docker.compose.project={project.compose_project}"
    return {
        "head": run(*git, "rev-parse", "HEAD"),
        "refs": run(*git, "for-each-ref"),
        "status": run(*git, "status", "--porcelain"),
        "state": sorted(str(p.relative_to(state)) for p in state.rglob("*")) if state.exists() else [],
        "releases": (state / "releases.log").read_text() if (state / "releases.log").exists() else "",
        "containers": run("docker", "ps", "-a", "--filter", label, "--format", "{{.ID}} {{.Image}} {{.State}}"),
        "started": run("sh", "-c", f"docker inspect -f '{{{{.Name}}}} {{{{.State.StartedAt}}}}' $(docker ps -aq --filter {label})"),
        "images": sorted(run("docker", "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", f"{project.image_prefix}_production_*").splitlines()),
        "migrations": sorted(project.stack.applied_migrations()),
        "backups": project.stack.compose("exec", "-T", "postgres", "backups").stdout,
    }


@pytest.fixture(scope="module")
def deployed(sandbox_host, tmp_path_factory):
    """One deployed project for the tests that must leave a host as it was (each
    compares the host before and after itself, so either may run first): a first
    deploy less to pay for. The xdist group keeps them on one worker."""
    from .remote import deployed_project, destroy_remote_project

    project = deployed_project(sandbox_host, tmp_path_factory.mktemp("unchanged"))
    yield project
    destroy_remote_project(project)


@pytest.mark.xdist_group("deployed-unchanged")
def test_dry_run_prints_every_command_and_leaves_the_host_as_it_was(deployed):
    project = deployed
    project.origin.commit("body; 1.1.0", {"VERSION": "1.1.0\n", "notes/migrations/0002_note_body.py": MIGRATION_0002})
    before = host_snapshot(project)
    result = project.fab("deploy", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert host_snapshot(project) == before
    assert project.page("/version/") == (200, "1.0.0")

    compose = f"docker compose -p {project.compose_project} -f docker-compose.production.yml"
    BUILD_SCRIPT = shlex.quote(build_labelled(ComposeProject("f"), ["x"], "r", "o")[2])
    cd = f"cd {project.path} && "
    new = project.origin.revisions[-1]
    for command in (
        f"{cd}{shlex.join(git.fetch())}",
        f"{cd}git checkout --quiet --detach {new}",
        f"{cd}sh -c {BUILD_SCRIPT} sh {project.path}/.git/composeship/build-labels.yml {new} 2 celeryworker django "
        f"{compose} -f {project.path}/.git/composeship/build-labels.yml build celeryworker django nginx postgres",
        f"{cd}{compose} run {shlex.join(MIGRATE_MARK)} -e 'PGOPTIONS=-c lock_timeout=5s' --rm django python manage.py migrate --noinput",
        f"{cd}{compose} up -d --no-recreate --no-build --scale celeryworker=2 --scale django=2 celeryworker django",
    ):
        assert command in result.stdout.splitlines(), command
    assert "dry run of deploy of main to sandbox" in result.stdout


@pytest.mark.xdist_group("deployed-unchanged")
def test_bad_input_gives_one_line_and_changes_nothing(deployed, tmp_path):
    project = deployed
    pwned = Path("/tmp/pwned")
    pwned.unlink(missing_ok=True)
    # The checkout's view of origin brought up to date first: resolving a ref fetches,
    # and the other test on this project may have pushed a commit that was never fetched.
    assert as_user(project.host["user"], "git", "-C", project.path, "fetch", "-q", "origin").returncode == 0
    before = host_snapshot(project)

    assert_one_error_line(project.fab("deploy", "--ref", "no-such-branch"), "ref 'no-such-branch' is not a branch, tag or commit")
    assert_one_error_line(project.fab("deploy", "--ref", "main; touch /tmp/pwned"), "--ref 'main; touch /tmp/pwned' is not a branch")
    assert_one_error_line(project.fab("deploy", DEPLOY_DJANGO_SERVICE="django; touch /tmp/pwned"), "DEPLOY_DJANGO_SERVICE=django; touch /tmp/pwned", "is not a service name")
    assert_one_error_line(project.fab("deploy", DEPLOY_COMPOSE_FILE="docker-compose.nope.yml"), "compose file docker-compose.nope.yml is missing")
    assert_one_error_line(project.fab("deploy", DEPLOY_PATH="/home/deploy/no-such-app", DEPLOY_REPO_URL=""), "DEPLOY_PATH /home/deploy/no-such-app on sandbox is not a git checkout")
    assert not Path("/home/deploy/no-such-app").exists()

    ssh_config = tmp_path / "ssh_config"
    dead_port = free_port()
    ssh_config.write_text(Path(project.host["ssh_config"]).read_text() + f"\nHost dead\n  HostName 127.0.0.1\n  Port {dead_port}\n  User deploy\n")
    assert_one_error_line(_fab_host(project, ssh_config, "dead"), "cannot connect to dead", "Connection refused")
    assert_one_error_line(_fab_host(project, ssh_config, "no-such-alias"), "cannot resolve host 'no-such-alias'")
    assert_one_error_line(_fab_host(project, None, None), "no host given", "-H")

    assert not pwned.exists()
    assert host_snapshot(project) == before


def _fab_host(project, ssh_config, alias):
    from .helpers import tool

    args = (["-S", str(ssh_config)] if ssh_config else []) + (["-H", alias] if alias else [])
    return tool("fab", *args, "deploy", env=project.env())


def _ssh_config_with(project, tmp_path, known_hosts: Path, strict: str) -> Path:
    text = Path(project.host["ssh_config"]).read_text()
    lines = [line for line in text.splitlines() if "UserKnownHostsFile" not in line and "StrictHostKeyChecking" not in line]
    lines += [f"  UserKnownHostsFile {known_hosts}", f"  StrictHostKeyChecking {strict}"]
    path = tmp_path / f"ssh_config_{strict}"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_host_keys_are_verified(remote_project, tmp_path):
    project = remote_project
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    unknown = project.fab("deploy", ssh_config=str(_ssh_config_with(project, tmp_path, empty, "yes")))
    assert_one_error_line(unknown, "host key of sandbox", "is not in", "ssh-keyscan")

    wrong = tmp_path / "known_hosts_wrong"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other_key = (tmp_path / "other.pub").read_text().split()[:2]
    wrong.write_text(f"[127.0.0.1]:{project.host['port']} {' '.join(other_key)}\n")
    changed = project.fab("deploy", ssh_config=str(_ssh_config_with(project, tmp_path, wrong, "yes")))
    assert_one_error_line(changed, "host key of sandbox", "CHANGED", "ssh-keygen -R")
    changed_even_when_accepting_new = project.fab("check", ssh_config=str(_ssh_config_with(project, tmp_path, wrong, "accept-new")))
    assert_one_error_line(changed_even_when_accepting_new, "CHANGED")

    assert not (Path(project.path) / ".git").exists(), "nothing may reach an unverified host"

    learned = tmp_path / "known_hosts_learned"
    first = project.fab("check", ssh_config=str(_ssh_config_with(project, tmp_path, learned, "accept-new")))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "added the host key" in first.stderr
    assert learned.read_text().split()[1:] == Path(project.host["known_hosts"]).read_text().split()[1:]
    strict_again = project.fab("check", ssh_config=str(_ssh_config_with(project, tmp_path, learned, "yes")))
    assert strict_again.returncode == 0, strict_again.stdout + strict_again.stderr

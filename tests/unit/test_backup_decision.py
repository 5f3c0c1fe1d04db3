"""steps/database.py's backup decision as data: DEPLOY_BACKUP, the pending migrations
(None: unknown) and whether the postgres service has cookiecutter-django's `backup`
command decide whether a deploy backs up, and why."""

import pytest
from invoke import Result

from tasks.errors import DeployError
from tasks.steps.database import backup_decision
from tests.unit.recorded_host import RecordedHost, web1

SERVICES = ["django", "postgres", "nginx"]


def decide(tmp_path, mode, pending, *, has_backup=True, services=SERVICES):
    host = RecordedHost({r"docker compose .*exec .*postgres sh -c 'command -v backup >/dev/null'": Result(exited=0 if has_backup else 1)})
    return backup_decision(web1(tmp_path, host, DEPLOY_BACKUP=mode), pending, services), host.commands


@pytest.mark.parametrize(
    "mode, pending, has_backup, expected",
    [
        pytest.param("never", ["notes.0002"], True, (False, "DEPLOY_BACKUP=never"), id="never"),
        pytest.param("always", [], True, (True, "DEPLOY_BACKUP=always"), id="always, even with nothing pending"),
        pytest.param("auto", [], True, (False, "no pending migrations"), id="auto, nothing pending"),
        pytest.param("auto", ["notes.0002", "notes.0003"], True, (True, "2 pending migration(s)"), id="auto, pending"),
        pytest.param("auto", None, True, (True, "if migrations are pending"), id="auto, pending unknown"),
        pytest.param("auto", ["notes.0002"], False, (False, "no `backup` command in a running postgres service"), id="auto, no backup command"),
    ],
)
def test_whether_a_deploy_backs_up(tmp_path, mode, pending, has_backup, expected):
    decision, asked = decide(tmp_path, mode, pending, has_backup=has_backup)
    assert decision == expected
    # Never, or nothing pending: the host is not asked whether it could back up.
    assert len(asked) == (0 if mode == "never" or (mode == "auto" and pending == []) else 1)


def test_always_without_a_backup_command_stops_the_deploy_with_the_fix(tmp_path):
    with pytest.raises(DeployError) as caught:
        decide(tmp_path, "always", ["notes.0002"], has_backup=False)
    assert str(caught.value) == (
        "DEPLOY_BACKUP=always but the postgres service on web1 has no running `backup` command — add cookiecutter-django's maintenance commands to your postgres image, or set DEPLOY_BACKUP=auto"
    )


def test_a_project_without_a_postgres_service_is_never_asked(tmp_path):
    decision, asked = decide(tmp_path, "auto", ["notes.0002"], services=["django", "nginx"])
    assert decision == (False, "no `backup` command in a running postgres service") and asked == []


def test_on_a_swarm_the_backup_is_asked_of_the_postgres_task_on_the_manager(tmp_path):
    """A swarm may place postgres on another node: then no backup command runs here."""
    task = r"sh -c 'c=\$\(docker ps -q --filter \"label=com.docker.swarm.service.name=\$0\".*exec docker exec .*' shop_postgres sh -c 'command -v backup >/dev/null'"
    for exited, expected in ((0, (True, "1 pending migration(s)")), (3, (False, "no `backup` command in a running postgres task on this manager"))):
        host = RecordedHost({task: Result(exited=exited)})
        target = web1(tmp_path, host, DEPLOY_ENGINE="swarm", DEPLOY_COMPOSE_PROJECT="shop")
        assert backup_decision(target, ["notes.0002"], SERVICES) == expected
        assert len(host.commands) == 1

import inspect

import pytest
from invoke.exceptions import Exit

from tasks.cli import handle_errors
from tasks.errors import ConfigError, DeployError


def test_expected_failure_becomes_one_line_and_exit_code():
    @handle_errors
    def body():
        raise ConfigError("DEPLOY_BACKUP=sometimes is not valid", "use auto, always or never")

    with pytest.raises(Exit) as caught:
        body()
    assert caught.value.message == "error: DEPLOY_BACKUP=sometimes is not valid — use auto, always or never"
    assert caught.value.code == 2


def test_bugs_keep_their_traceback():
    @handle_errors
    def body():
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        body()


def test_traceback_on_request(monkeypatch):
    monkeypatch.setenv("COMPOSESHIP_TRACEBACK", "1")

    @handle_errors
    def body():
        raise DeployError("x", "y")

    with pytest.raises(DeployError):
        body()


def all_tasks():
    from tasks import ns

    collections = [ns]
    try:
        import fabfile

        collections.append(fabfile.ns if hasattr(fabfile, "ns") else None)
    except ImportError:
        pass
    for collection in filter(None, collections):
        for name in collection.task_names:
            yield name, collection[name]


@pytest.mark.parametrize("name, task", list(all_tasks()))
def test_every_task_and_flag_has_help(name, task):
    assert task.__doc__ and task.__doc__.strip(), f"{name} has no docstring"
    parameters = [p for p in inspect.signature(task.body).parameters if p != "c"]
    for parameter in parameters:
        assert task.help.get(parameter), f"{name} --{parameter.replace('_', '-')} has no help text"

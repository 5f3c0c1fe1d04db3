"""pipelines/rollback.py's choice of target from the release log, as data: the release
that served before the current one, or the one `--to` names, and the errors that say
what to pick instead."""

import pytest
from invoke import MockContext

from tasks.errors import DeployError
from tasks.pipelines.rollback import choose
from tasks.records import Outcome, Release
from tests.unit.recorded_host import web1

A, B, C = "a" * 40, "ab" + "b" * 38, "c" * 40


def target(tmp_path):
    return web1(tmp_path, MockContext(), "rollback")


def served(revision, kind="deploy", result=Outcome.OK):
    return Release(kind=kind, host="web1", user="ann", ref="main", started="2026-12-01T10:00:00Z", revision=revision, result=result)


LOG = [served(A), served(B), served(C, result=Outcome.FAILED), served(C)]


@pytest.mark.parametrize(
    "current, to, expected",
    [
        pytest.param(C, None, B, id="the release before the current one"),
        pytest.param(C, "a" * 12, A, id="--to a revision prefix"),
        pytest.param(B, None, A, id="after a rollback to B, the one before B"),
    ],
)
def test_the_target(tmp_path, current, to, expected):
    assert choose(target(tmp_path), LOG, current, to).revision == expected


@pytest.mark.parametrize(
    "entries, current, to, expected",
    [
        pytest.param(LOG, C, "f00", "'f00' is not one release of web1 — pick one from `fab -H web1 rollback --list`", id="--to no release"),
        pytest.param(LOG, C, "a", "'a' is not one release of web1 — pick one from `fab -H web1 rollback --list`", id="--to a prefix of two releases"),
        pytest.param(LOG, C, "cc", "cccccccccccc already serves on web1 — pick another one from `fab -H web1 rollback --list`", id="--to what serves"),
        pytest.param(
            [served(A)],
            A,
            None,
            "there is no earlier release of web1 to roll back to — see `fab -H web1 releases`; deploy a revision with `fab -H web1 deploy --ref REV`",
            id="only one release",
        ),
    ],
)
def test_what_cannot_be_rolled_back_to_says_what_to_pick(tmp_path, entries, current, to, expected):
    with pytest.raises(DeployError) as caught:
        choose(target(tmp_path), entries, current, to)
    assert str(caught.value) == expected

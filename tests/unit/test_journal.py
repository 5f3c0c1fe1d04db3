"""steps/journal.py on a recorded host: what the journal holds when the run begins
(what served, the checkout) and before it changes anything (the target); a step's
name written without waiting; the run's end as one command (the release line and the
journal's removal); and a broken lock, which stops the run at its next write but never
removes the new holder's journal."""

import json
import re
import shlex

import pytest
from invoke import Result

from tasks.errors import LockBroken
from tasks.facts.host_state import Observed, Serving
from tasks.records import Outcome, Release
from tasks.steps import lock
from tasks.steps.journal import RunJournal
from tests.unit.recorded_host import RecordedHost, web1

OLD, NEW = "1" * 40, "2" * 40
WRITE = r"^sh -c '\[ \"\$\(sed -n \"s/\^token=//p\" \"\$1/info\" 2>/dev/null\)\" = \"\$2\" \] \|\| exit 3; printf"
CLOSE = r"^sh -c '\[ -z \"\$3\" \] \|\| printf"


def journal_on(tmp_path, answers):
    host = RecordedHost(answers)
    t = web1(tmp_path, host)
    info = lock.new_lock("deploy", "main")
    return RunJournal(t, info, "deploy", "main"), host, info


def written(command: str) -> dict:
    return json.loads(shlex.split(command)[-1])


def test_what_the_next_run_decides_from_is_written_before_anything_changes(tmp_path):
    journal, host, info = journal_on(tmp_path, {WRITE: Result(""), CLOSE: Result("")})
    journal.begin(Observed(OLD, (), None, None, None, ()), Serving(OLD, {"shop_django": "sha256:d1"}))
    journal.target(NEW)
    journal.enter("build")
    release = Release("deploy", "web1", "ann", "main", "t", previous=OLD, revision=NEW, result=Outcome.OK)
    journal.close(release)
    writes = [written(c) for c in host.commands if re.match(WRITE, c)]
    assert [(w["serving"], w["checkout"], w["target"], w["step"]) for w in writes] == [(OLD, OLD, None, "lock"), (OLD, OLD, NEW, "lock"), (OLD, OLD, NEW, "build")]
    assert all(w["token"] == info.token for w in writes)
    (close,) = [c for c in host.commands if re.match(CLOSE, c)]
    words = shlex.split(close)
    assert words[3:7] == ["/srv/shop/.git/composeship/journal.json", "/srv/shop/.git/composeship/lock", info.token, "/srv/shop/.git/composeship/releases.log"]
    assert json.loads(words[7])["result"] == "ok"
    assert journal.t.journal is None


def test_a_broken_lock_stops_the_run_at_its_next_write_and_its_end_leaves_the_new_holders_journal(tmp_path):
    journal, host, _ = journal_on(tmp_path, {WRITE: Result(exited=3), CLOSE: Result(exited=3)})
    with pytest.raises(LockBroken) as broken:
        journal.begin(Observed(OLD, (), None, None, None, ()), Serving(OLD))
    assert broken.value.what == "the lock on web1 was broken while this run held it"
    assert "undid nothing" in broken.value.todo
    journal.close(None)  # exit 3: the journal there is the new holder's; no error


def test_a_run_that_never_reached_a_revision_leaves_no_line(tmp_path):
    journal, host, _ = journal_on(tmp_path, {WRITE: Result(""), CLOSE: Result("")})
    journal.begin(Observed(OLD, (), None, None, None, ()), Serving(OLD))
    journal.close(None)
    (close,) = [c for c in host.commands if re.match(CLOSE, c)]
    assert shlex.split(close)[6:8] == ["", ""], "no release log, no line"

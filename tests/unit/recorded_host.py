"""A host that answers from recorded output: the unit tests of whole pipelines run
against it through a printing or real executor, with no SSH and no Docker."""

import io
import re
import shlex

from invoke import Result

from tasks.executor import BATCH_MARK, TEST_MARK, Executor
from tasks.report import Report
from tasks.settings import load
from tasks.target import Target


class Finished:
    """An asynchronous run (composeship's bookkeeping, an interruptible command) that has
    already ended, as Invoke's promise shows one."""

    def __init__(self, result):
        self.result = result
        self.runner = type("Runner", (), {"process_is_finished": True, "kill": lambda self: None})()

    def join(self):
        return self.result


class RecordedHost:
    """Answers each command (or each command of a batch, in the batch's own format) from
    a table of patterns, the first that matches (a pattern starting with ^ matches at
    the start only; an answer may be a function of the command); keeps what it was
    asked."""

    def __init__(self, answers):
        self.answers = {re.compile(".*" + pattern): result for pattern, result in answers.items()}
        self.commands = []

    def answer(self, command):
        self.commands.append(command)
        for pattern, result in self.answers.items():
            if pattern.match(command):
                return result(command) if callable(result) else result
        raise AssertionError(f"unexpected command on the host: {command}")

    def run(self, command, **options):
        if options.get("asynchronous"):
            return Finished(self.run(command))
        if BATCH_MARK not in command:
            return self.answer(command)
        script = shlex.split(command)[2]
        if TEST_MARK not in script:
            return Result(stdout=self.batch(script))
        # probe_batch_when: the items started before the test, the test, then the
        # items started only when it passed.
        test = re.search(r"^out=\$\( \( (.*) \) 2>/dev/null </dev/null \)", script, re.M)
        tested = self.answer(test[1])
        always, _, rest = script.partition("\nout=$(")
        passed = rest.split("\nelse\n")[0]
        branch = always + ("\n" + passed if tested.exited == 0 else "")
        return Result(stdout=f"{tested.stdout}\n{TEST_MARK} {tested.exited}\n" + self.batch(branch))

    def batch(self, script):
        parts = []
        for line in script.splitlines():
            found = re.match(r"\{ \( (.*) \) >\"\$t/\d+\.out\"", line)
            if found:
                result = self.answer(found[1])
                parts.append(f"\n{BATCH_MARK} {result.exited}\n{result.stdout}\n{BATCH_MARK}\n{result.stderr}")
        return "".join(parts)


def web1(tmp_path, context, title="deploy", **settings):
    """A Target for host web1, DEPLOY_PATH /srv/shop plus `settings`, whose commands go to
    `context` (a RecordedHost or an invoke MockContext) and whose output is kept aside."""
    environ = {"DEPLOY_CONFIG_DIR": str(tmp_path), "DEPLOY_PATH": "/srv/shop", **settings}
    out = io.StringIO()
    return Target("web1", load("production", host="web1", environ=environ), Executor(context, host="web1", out=out), Report(title, "web1", out=out))

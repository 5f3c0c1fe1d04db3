"""A host that answers from recorded output: the unit tests of whole pipelines run
against it through a printing or real executor, with no SSH and no Docker."""

import re
import shlex

from invoke import Result

from tasks.executor import BATCH_MARK


class RecordedHost:
    """Answers each command (or each command of a batch, in the batch's own format) from
    a table of patterns; keeps what it was asked."""

    def __init__(self, answers):
        self.answers = {re.compile(".*" + pattern): result for pattern, result in answers.items()}
        self.commands = []

    def answer(self, command):
        self.commands.append(command)
        for pattern, result in self.answers.items():
            if pattern.match(command):
                return result
        raise AssertionError(f"unexpected command on the host: {command}")

    def run(self, command, **options):
        if BATCH_MARK not in command:
            return self.answer(command)
        parts = []
        for line in shlex.split(command)[2].splitlines():
            found = re.match(r"\{ \( (.*) \) >\"\$t/\d+\.out\"", line)
            if found:
                result = self.answer(found[1])
                parts.append(f"\n{BATCH_MARK} {result.exited}\n{result.stdout}\n{BATCH_MARK}\n{result.stderr}")
        return Result(stdout="".join(parts))

"""The one error family. Every expected failure is a DeployError with two parts:
what happened, and what the user should do about it. The CLI layer turns it into a
single `error: ... — ...` line; anything else is a bug and keeps its traceback."""


class DeployError(Exception):
    exit_code = 1

    def __init__(self, what: str, todo: str = ""):
        super().__init__(what)
        self.what = what
        self.todo = todo

    def __str__(self) -> str:
        return f"{self.what} — {self.todo}" if self.todo else self.what


class ConfigError(DeployError):
    """Bad, missing or unknown configuration: found before anything runs."""

    exit_code = 2


class UsageError(DeployError):
    """Bad arguments on the command line."""

    exit_code = 2


class UnreadableOutput(DeployError, ValueError):
    """A command's output that its parser cannot read (not the JSON expected, a marker
    line with nothing readable after it): a ValueError too, so that a caller with a
    better message for its own command can say it instead."""


class CommandFailed(DeployError):
    """A command run by the executor exited non-zero."""

    def __init__(self, what: str, todo: str = "", *, command: str = "", exited: int = 1, host: str = "local", stdout: str = "", stderr: str = ""):
        super().__init__(what, todo)
        self.command = command
        self.exited = exited
        self.host = host
        self.stdout = stdout
        self.stderr = stderr


class HostError(DeployError):
    """The host cannot be reached, or does not meet what a step needs."""


class LockHeld(DeployError):
    """Another deploy holds the host's lock."""


class LockBroken(DeployError):
    """Someone broke this run's lock (`unlock --force`) while it ran: another run may
    be changing the host, so this one changes nothing more there."""


class ConnectionLost(HostError):
    """The SSH connection died during a command: it may still run on the host."""

    def __init__(self, what: str, todo: str = "", *, command: str = "", host: str = ""):
        super().__init__(what, todo)
        self.command = command
        self.host = host

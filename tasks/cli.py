"""The one top-level error handler, and task helpers shared by `inv` and `fab` tasks."""

from __future__ import annotations

import functools
import os
import sys

from invoke.exceptions import Exit

from .errors import DeployError, UsageError
from .settings import validate_service

DRY_RUN_HELP = "Print the commands instead of running them; nothing is changed."


def handle_errors(body):
    """Expected failures become one `error: what — what to do` line and a non-zero exit.
    Set COMPOSESHIP_TRACEBACK=1 to see the traceback as well."""

    @functools.wraps(body)
    def wrapper(*args, **kwargs):
        try:
            return body(*args, **kwargs)
        except DeployError as problem:
            if os.environ.get("COMPOSESHIP_TRACEBACK"):
                raise
            sys.stdout.flush()
            raise Exit(f"error: {problem}", code=problem.exit_code) from None
        except KeyboardInterrupt:
            if os.environ.get("COMPOSESHIP_TRACEBACK"):
                raise
            sys.stdout.flush()
            raise Exit("error: interrupted — what was undone and what was not is in the summary above", code=130) from None

    return wrapper


def remainder() -> list[str]:
    """Words after `--` on the command line, as the shell split them."""
    argv = sys.argv
    return argv[argv.index("--") + 1 :] if "--" in argv else []


def service_names(value: str | None) -> list[str]:
    """`--service a,b` -> ["a", "b"], each checked to be a plain service name."""
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    for name in names:
        try:
            validate_service(name)
        except ValueError as problem:
            raise UsageError(f"--service {name!r} {problem}", "pass service names from your compose file") from None
    return names


def tail_lines(value) -> int | None:
    """`--tail N` -> N, or None when not given."""
    if value is None:
        return None
    if not str(value).isdigit():
        raise UsageError(f"--tail {value!r} is not a number of lines", "use e.g. --tail 100")
    return int(value)

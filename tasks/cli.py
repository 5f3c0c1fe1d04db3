"""The one top-level error handler, and task helpers shared by `inv` and `fab` tasks."""

from __future__ import annotations

import functools
import os
import re
import sys

from invoke.exceptions import Exit

from .errors import DeployError, UsageError
from .executor import Stopped, stop_signals_raise
from .settings import validate_ref, validate_service

DRY_RUN_HELP = "Print the commands instead of running them; nothing is changed."


def handle_errors(body):
    """Expected failures become one `error: what — what to do` line and a non-zero exit.
    Set COMPOSESHIP_TRACEBACK=1 to see the traceback as well."""

    @functools.wraps(body)
    def wrapper(*args, **kwargs):
        try:
            with stop_signals_raise():
                return body(*args, **kwargs)
        except DeployError as problem:
            if os.environ.get("COMPOSESHIP_TRACEBACK"):
                raise
            _flush()
            raise Exit(f"error: {problem}", code=problem.exit_code) from None
        except KeyboardInterrupt as stop:
            if os.environ.get("COMPOSESHIP_TRACEBACK"):
                raise
            _flush()
            name, code = (stop.signal_name, stop.exit_code) if isinstance(stop, Stopped) else ("Ctrl-C", 130)
            raise Exit(f"error: interrupted by {name} — what was undone and what was not is in the summary above", code=code) from None

    return wrapper


def _flush() -> None:
    try:
        sys.stdout.flush()
    except OSError:
        pass  # a closed terminal


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
    if not re.fullmatch(r"[0-9]{1,9}", str(value)):
        raise UsageError(f"--tail {value!r} is not a number of lines", "use e.g. --tail 100")
    return int(value)


def ref_option(flag: str, value: str | None) -> str | None:
    """`--ref`/`--to`: a branch, tag or commit name, checked before anything connects."""
    if value is None:
        return None
    try:
        return validate_ref(value)
    except ValueError as problem:
        raise UsageError(f"{flag} {value!r} {problem}", "pass a branch, tag or commit name") from None


SINCE = re.compile(r"[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)|[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?|[0-9]{9,10}")


def since_option(value: str | None) -> str | None:
    """`--since`: a duration (10m, 2h) or a timestamp, as `docker compose logs` takes them."""
    if value is not None and not SINCE.fullmatch(value):
        raise UsageError(f"--since {value!r} is not a duration or timestamp", "use e.g. --since 10m or --since 2026-11-26T10:00:00")
    return value

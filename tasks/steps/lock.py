"""The deploy lock: a folder on the server, created atomically, holding who took it,
when, for which ref and why. Released in `finally`; a stale one is only ever broken
on request (`unlock --force`)."""

from __future__ import annotations

import getpass
import socket
import time
from contextlib import contextmanager
from datetime import datetime, timezone

from ..commands import host
from ..errors import HostError, LockHeld
from ..facts.host import LockInfo, parse_lock
from ..target import Target


def local_user() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_lock(kind: str, ref: str = "", message: str = "") -> LockInfo:
    return LockInfo(local_user(), kind, ref, " ".join(message.split()), now_iso(), int(time.time()))


def read(t: Target) -> LockInfo | None:
    result = t.run(host.read_lock(t.lock_dir), cwd=None, probe=True, stream=False, check=False)
    return parse_lock(result.stdout) if result.ok else None


def acquire(t: Target, info: LockInfo) -> None:
    result = t.run(host.take_lock(t.state_dir, t.lock_dir, info.lines()), cwd=None, stream=False, check=False)
    if result.ok:
        return
    holder = read(t)
    if holder is None:
        if not t.check(host.is_file(f"{t.path}/.git/HEAD"), cwd=None):
            raise HostError(f"{t.path} on {t.name} is not a git checkout yet: there is nothing to lock", f"deploy first (`fab -H {t.name} deploy`)")
        raise t.executor.failure(result, shown=False, todo=f"check that the deploy user may write to {t.state_dir}")
    raise LockHeld(
        f"{t.name} is locked by {holder.describe()}",
        f"wait for it to finish; if that run is dead, see `fab -H {t.name} lock-status`, then `fab -H {t.name} unlock --force`",
    )


def release(t: Target) -> None:
    t.run(host.drop_lock(t.lock_dir), cwd=None, stream=False)


@contextmanager
def held(t: Target, info: LockInfo):
    with t.step("lock"):
        acquire(t, info)
    try:
        yield info
    finally:
        with t.step("unlock"):
            release(t)

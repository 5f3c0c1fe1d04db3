"""The deploy lock: a folder on the server, created atomically, holding who took it,
when, for which ref and why, and a token only the taker knows. A run releases only
the lock that carries its token; a lock is broken only on request (`unlock --force`),
which says what it breaks."""

from __future__ import annotations

import getpass
import secrets
import socket
import time
from datetime import datetime, timezone

from ..commands import host
from ..errors import HostError, LockBroken, LockHeld
from ..facts.host_state import lock_state
from ..records import LockInfo, LockState, lock_message
from ..target import Target


def explain(t: Target, ref: str) -> str:
    return f"{t.lock_dir}, on every host or none"


def explain_unlock(t: Target, ref: str) -> str:
    return "the run's own lock released (one that carries its token), however the run ended"


def local_user() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_lock(kind: str, ref: str = "", message: str = "") -> LockInfo:
    return LockInfo(local_user(), kind, ref, lock_message(message), now_iso(), int(time.time()), secrets.token_hex(8))


def read(t: Target) -> LockState | None:
    return t.probe(lock_state(t.lock_dir), cwd=None)


def held_by_todo(t: Target, state: LockState) -> str:
    if state.info is None or state.holder_alive is False:
        return f"that run is dead: break its lock with `fab -H {t.name} unlock --force`; the next deploy then recovers what it left"
    return f"wait for it to finish; if that run is dead, see `fab -H {t.name} lock-status`, then `fab -H {t.name} unlock --force`"


def acquire(t: Target, info: LockInfo) -> None:
    result = t.run(host.take_lock(t.state_dir, t.lock_dir, info.lines()), cwd=None, stream=False, check=False, label=f"mkdir {t.lock_dir}")
    if result.ok:
        return
    if result.exited == host.LOCK_NOT_WRITTEN or "No space left on device" in result.stderr:
        said = " / ".join(dict.fromkeys(line.strip() for line in result.stderr.strip().splitlines() if line.strip())) or "no message"
        raise HostError(
            f"could not take the lock on {t.name}: writing it in {t.state_dir} failed ({said})",
            f"check the free space there (`df -h {t.state_dir}` on {t.name}), then run again; nothing was changed and no lock is left",
        )
    holder = read(t)
    if holder is None:
        if not t.check(host.is_file(f"{t.path}/.git/HEAD"), cwd=None):
            raise HostError(f"{t.path} on {t.name} is not a git checkout yet: there is nothing to lock", f"deploy first (`fab -H {t.name} deploy`)")
        raise t.executor.failure(result, shown=False, todo=f"check that the deploy user may write to {t.state_dir}")
    raise LockHeld(f"{t.name} is locked by {holder.describe()}", held_by_todo(t, holder))


def release(t: Target, info: LockInfo, taken_for_sure: bool = True) -> str:
    """Release this run's own lock; a lock someone broke and took is left alone. Not
    `taken_for_sure` (the run stopped while taking it): a missing lock or another's
    means this run never took it."""
    result = t.run(host.release_lock(t.lock_dir, info.token), cwd=None, stream=False, check=False, label=f"rm -r {t.lock_dir}")
    if result.ok:
        return ""
    if not taken_for_sure and result.exited in (3, 4):
        return "this run had not taken the lock"
    if result.exited == 4:
        return "the lock was already gone (someone broke it)"
    if result.exited == 3:
        holder = read(t)
        raise LockBroken(
            f"the lock on {t.name} is no longer this run's: " + (holder.describe() if holder else "it was broken"),
            "someone broke it with `unlock --force` while this run went on: check what runs with `fab -H " + t.name + " status`",
        )
    raise t.executor.failure(result, shown=False, todo=f"remove {t.lock_dir} by hand once no run is going on")


def is_ours(t: Target, info: LockInfo) -> bool:
    """Does the host's lock still carry this run's token (nobody broke it)?"""
    state = read(t)
    return state is not None and state.info is not None and state.info.token == info.token


def break_lock(t: Target) -> LockState | None:
    state = read(t)
    if state is not None:
        t.run(host.break_lock(t.lock_dir), cwd=None, stream=False)
    return state

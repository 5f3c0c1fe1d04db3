"""The journal of the run in progress: written on the host once the lock is held,
rewritten at the start of every step, and removed together with the release log's
line when the run ends. A journal found by the next run means the run that wrote it
was killed before it could clean up (steps/recovery.py reads it)."""

from __future__ import annotations

from ..commands import host
from ..errors import LockBroken
from ..facts.host_state import Observed, Serving
from ..records import Journal, LockInfo, Release
from ..target import Target


class RunJournal:
    def __init__(self, t: Target, lock: LockInfo, kind: str, ref: str):
        self.t = t
        self.record = Journal(token=lock.token, kind=kind, user=lock.user, ref=ref, started=lock.time)
        self.lock = lock
        self.pending = None

    def begin(self, observed: Observed, serving: Serving) -> None:
        self.record.serving = serving.revision
        self.record.serving_images = dict(serving.images)
        self.record.checkout = observed.checkout
        self._write()
        self.t.journal = self

    def target(self, revision: str | None) -> None:
        self.record.target = revision
        self._write()

    def enter(self, step: str) -> None:
        """Only the step's name changes, which recovery reports but does not decide
        from: written without waiting, while the step runs. What recovery decides from
        (what served, the target) is written before the run changes anything."""
        self.record.step = step
        self._settle()
        self.pending = self.t.executor.start(self._write_command())

    def _write_command(self) -> list[str]:
        t = self.t
        return host.write_journal(t.journal_path, t.lock_dir, self.lock.token, self.record.to_json())

    def _settle(self, *, check: bool = True) -> None:
        """Wait for the write in flight, so that writes land in order (and none lands
        after the journal was closed: a stop signal during the wait leaves it pending)."""
        if self.pending is None:
            return
        result = self.pending.result()
        self.pending = None
        if check and result.exited != -1:
            self._check(result)

    def _write(self) -> None:
        self._settle()
        t = self.t
        result = t.run(self._write_command(), cwd=None, stream=False, check=False, bookkeeping=True, label=f"write {t.journal_path}")
        self._check(result)

    def _check(self, result) -> None:
        t = self.t
        if result.exited == 3:
            raise LockBroken(
                f"the lock on {t.name} was broken while this run held it",
                f"this run stopped there and undid nothing, since another run may be changing the host: see `fab -H {t.name} lock-status` and `fab -H {t.name} status` for who runs what",
            )
        if not result.ok:
            raise t.executor.failure(result, shown=False, todo=f"check that the deploy user may write to {t.state_dir}")

    def close(self, release: Release | None) -> None:
        """The run is over: its line goes into the release log and the journal goes, in
        one command (no line for a run that never got as far as a revision)."""
        t = self.t
        t.journal = None
        self._settle(check=False)
        line = ("", "") if release is None else (t.release_log, release.to_json())
        # A broken lock's new holder has its own journal there (exit 3): it stays.
        result = t.run(host.close_journal(t.journal_path, t.lock_dir, self.lock.token, *line), cwd=None, stream=False, check=False, bookkeeping=True, label=f"append to {t.release_log}")
        if not result.ok and result.exited != 3:
            raise t.executor.failure(result, shown=False, todo=f"check that the deploy user may write to {t.state_dir}")


def close_unowned(t: Target, release: Release) -> None:
    """Record a killed run's line and remove its journal (this run holds the lock now)."""
    t.run(host.record_and_close(t.release_log, release.to_json(), t.journal_path), cwd=None, stream=False, bookkeeping=True)

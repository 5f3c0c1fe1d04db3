"""The state composeship keeps on a host, as typed records that are read back exactly
the way they are written: the lock's owner, the journal of the run in progress, and
the release log's entries."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from enum import Enum


class Outcome(str, Enum):
    """How a run ended on one host: what the release log says, and what it means."""

    OK = "ok"
    # Stopped before anything that serves was touched: checkout and image tags went back.
    FAILED = "failed"
    # Stopped by Ctrl-C, SIGTERM, SIGHUP or a lost connection; what was undone is in `error`.
    INTERRUPTED = "interrupted"
    # Failed after the restart; the previous release was restored and answers again.
    ROLLED_BACK = "rolled back"
    # Failed after the restart and the previous release does not answer either.
    NEEDS_ATTENTION = "needs attention"
    # Another host of the same deploy failed first: this one stayed on its release.
    NOT_RESTARTED = "not restarted"
    # The release serves on every host, but a migration marked to run after the deploy
    # failed or was stopped: the next deploy applies what is left.
    POST_DEPLOY_FAILED = "serving; post-deploy migrations failed"
    # `deploy --plan`: shown, then put back; never recorded.
    PLANNED = "planned"

    def __str__(self) -> str:
        return self.value


def short(revision: str | None, missing: str = "none") -> str:
    """A revision as the output and the release tags show it: its first 12 characters
    (`missing` when there is none)."""
    return revision[:12] if revision else missing


def lock_message(value: str) -> str:
    """A lock's message on one line, without control characters (it is shown on others' terminals)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


def _known(cls, data: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


@dataclass(frozen=True)
class DeferredDrop:
    """A drop (RemoveField, DeleteModel) that its migration was applied without, to run
    once no old code reads what it drops: the migration, the operation's place in it,
    and Django's description of it."""

    migration: str
    operation: int
    description: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.migration, self.operation)

    def describe(self) -> str:
        return f"{self.migration}: {self.description}" if self.description else f"{self.migration} (operation {self.operation + 1})"

    @classmethod
    def from_dict(cls, data) -> "DeferredDrop | None":
        if not isinstance(data, dict) or not isinstance(data.get("migration"), str) or not isinstance(data.get("operation"), int):
            return None
        return cls(data["migration"], data["operation"], str(data.get("description") or ""))


def _drops(values) -> list[DeferredDrop]:
    found = [DeferredDrop.from_dict(value) for value in values] if isinstance(values, list) else []
    return [drop for drop in found if drop is not None]


@dataclass
class Release:
    """One line of the release log: a deploy, rollback or migrate-only on one host."""

    kind: str
    host: str
    user: str
    ref: str
    started: str
    previous: str | None = None
    revision: str | None = None
    migrations: list[str] = field(default_factory=list)
    # Those of `migrations` applied after the rollout (marked post-deploy).
    post_deploy: list[str] = field(default_factory=list)
    unapplied: list[str] = field(default_factory=list)
    backup: str | None = None
    result: Outcome = Outcome.FAILED
    error: str = ""
    seconds: float = 0.0
    # The step the run was in when it stopped (empty when it finished).
    step: str = ""
    # The fingerprint of the compose configuration the run brought the services to.
    config: str = ""
    # Columns whose default the migrations left in the database for the old code
    # (`notes.0002_note_pinned: note.pinned`), and the drops they were applied without
    # (`deferred`), of which `dropped` ran once the release served everywhere.
    kept_defaults: list[str] = field(default_factory=list)
    deferred: list[DeferredDrop] = field(default_factory=list)
    dropped: list[DeferredDrop] = field(default_factory=list)

    def to_json(self) -> str:
        data = asdict(self)
        data["result"] = str(self.result)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Release":
        known = _known(cls, data)
        try:
            known["result"] = Outcome(known.get("result", "failed"))
        except ValueError:
            known["result"] = Outcome.FAILED
        for name in ("kind", "host", "user", "ref", "started"):
            known.setdefault(name, "?" if name != "ref" else "")
        for name in ("deferred", "dropped"):
            known[name] = _drops(known.get(name))
        return cls(**known)

    @property
    def served(self) -> bool:
        """Did this run leave its revision serving?"""
        return self.kind in ("deploy", "rollback") and self.result in (Outcome.OK, Outcome.POST_DEPLOY_FAILED) and bool(self.revision)


@dataclass(frozen=True)
class LockInfo:
    """Who holds the host's lock. `token` is the holder's own: a run releases only the
    lock that carries its token. `sshd_pid`/`sshd_start` name the SSH connection that
    took it, so that a later look can tell whether that connection still exists."""

    user: str = "?"
    kind: str = "?"
    ref: str = ""
    message: str = ""
    time: str = "?"
    epoch: int = 0
    token: str = ""
    sshd_pid: str = ""
    sshd_start: str = ""

    def age(self, now: float | None = None) -> str:
        if not self.epoch:
            return "unknown age"
        seconds = int((now if now is not None else time.time()) - self.epoch)
        if seconds < 120:
            return f"{seconds}s"
        if seconds < 7200:
            return f"{seconds // 60}m"
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"

    def describe(self, now: float | None = None) -> str:
        text = f"{self.user} ({self.kind}"
        text += f" of {self.ref}" if self.ref else ""
        text += f", since {self.time}, {self.age(now)} ago)"
        return text + (f": {self.message}" if self.message else "")

    def lines(self) -> list[str]:
        """What the client writes; the host adds sshd_pid and sshd_start itself."""
        return [f"{name}={value}" for name, value in asdict(self).items() if not name.startswith("sshd_")]

    @classmethod
    def parse(cls, text: str) -> "LockInfo":
        found = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        data = _known(cls, found)
        epoch = data.pop("epoch", "0")
        return cls(**data, epoch=int(epoch) if epoch.isdigit() else 0)


@dataclass(frozen=True)
class LockState:
    """The lock folder as found: absent (None elsewhere), held with its info, or a
    folder without readable info (a run killed between creating and filling it).
    `holder_alive`: whether the SSH connection that took it still exists on the host
    (None: cannot tell)."""

    info: LockInfo | None
    holder_alive: bool | None = None

    def describe(self) -> str:
        if self.info is None:
            return "a run that died while taking it (the lock folder has no owner info)"
        text = self.info.describe()
        if self.info.kind == "manual":
            return text  # taken by hand: nobody's connection is meant to stay
        if self.holder_alive is False:
            text += "; the SSH connection that took it is gone, so that run is no longer running here"
        elif self.holder_alive:
            text += "; its SSH connection is still open"
        return text


@dataclass
class Journal:
    """The run in progress on a host, rewritten at every step. A run that ends, however
    it ends, removes it; one that is found by the next run was killed (SIGKILL, a dead
    laptop, a cut network) before it could clean up."""

    token: str
    kind: str
    user: str
    ref: str
    started: str
    step: str = "lock"
    # What served when the run began: the revision, and the image id of each image name.
    serving: str | None = None
    serving_images: dict[str, str] = field(default_factory=dict)
    # Where the checkout was when the run began (it may differ from what serves).
    checkout: str | None = None
    target: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def parse(cls, text: str) -> "Journal | None":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        known = _known(cls, data)
        if not all(name in known for name in ("token", "kind", "user", "ref", "started")):
            return None
        return cls(**known)


def parse_release_log(text: str) -> list[Release]:
    """The release log: one JSON object per line; a torn line is skipped."""
    found = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            found.append(Release.from_dict(data))
    return found

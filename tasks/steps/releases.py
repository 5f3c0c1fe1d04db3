"""The release log on the server: one JSON line per run, appended, never rewritten,
read back into the same Release records it is written from."""

from __future__ import annotations

from ..facts import host_state
from ..records import DeferredDrop, Outcome, Release
from ..target import Target


def explain_record(t: Target, ref: str) -> str:
    return f"the run's line in {t.release_log}"


def read_log(t: Target) -> list[Release]:
    return t.probe(host_state.release_log(t.release_log), cwd=None)


def releases_served(entries: list[Release]) -> list[Release]:
    """Entries that put a revision into service, newest first, one per revision."""
    seen, found = set(), []
    for entry in reversed(entries):
        if entry.served and entry.revision not in seen:
            seen.add(entry.revision)
            found.append(entry)
    return found


def rollback_candidates(entries: list[Release], current: str | None) -> list[Release]:
    return [entry for entry in releases_served(entries) if entry.revision != current]


def previous_release(entries: list[Release], current: str | None) -> Release | None:
    """The release that served before `current` came in: the newest serving entry with
    another revision that is older than `current`'s newest serving entry (or, when
    composeship never put `current` into service, the newest other one)."""
    served_current = current is None or not any(entry.served and entry.revision == current for entry in entries)
    for entry in reversed(entries):
        if not entry.served:
            continue
        if entry.revision == current:
            served_current = True
        elif served_current:
            return entry
    return None


def find_release(entries: list[Release], revision_prefix: str) -> Release | None:
    matches = [entry for entry in releases_served(entries) if entry.revision.startswith(revision_prefix)]
    return matches[0] if len({m.revision for m in matches}) == 1 else None


def newest_serving(entries: list[Release], revision: str | None) -> Release | None:
    """The newest run that left `revision` serving."""
    if not revision:
        return None
    return next((entry for entry in reversed(entries) if entry.served and entry.revision == revision), None)


def deployed_ok(entries: list[Release], revision: str | None) -> bool:
    """Did composeship put `revision` into service with all its migrations applied (the
    newest run that served it left none of its post-deploy migrations behind), and has
    no run since reversed any of them?"""
    newest = newest_serving(entries, revision)
    if newest is None or newest.result is not Outcome.OK:
        return False
    since = entries[next(i for i in range(len(entries) - 1, -1, -1) if entries[i] is newest) + 1 :]
    return not any(reversed_since(entry) for entry in since)


def reversed_since(entry: Release) -> bool:
    """Did the run reverse migrations and leave them so, or stop while it reversed them
    (what it reversed is then unknown)?"""
    if entry.step == "unmigrate" and entry.result is not Outcome.OK:
        return True
    return bool(set(entry.unapplied) - set(entry.migrations))


def served_config(entries: list[Release], revision: str | None) -> str:
    """The compose configuration's fingerprint that the newest run serving `revision`
    left its services on ("" when unknown: an older log, or never served)."""
    newest = newest_serving(entries, revision)
    return newest.config if newest else ""


def post_deploy_among(entries: list[Release], labels: list[str]) -> list[str]:
    """Those of `labels` that the release log says ran after a deploy's rollout: marked
    post-deploy, or whose deferred drop ran then."""
    ran_after = {label for entry in entries for label in entry.post_deploy} | {drop.migration for entry in entries for drop in entry.dropped}
    return sorted(label for label in labels if label in ran_after)


def owed_drops(entries: list[Release]) -> list[DeferredDrop]:
    """The drops that migrations were applied without and that have not run yet, in the
    order they were deferred: a drop is paid by the run that did it, and forgotten when
    a rollback reversed its migration."""
    owed: dict[tuple[str, int], DeferredDrop] = {}
    for entry in entries:
        for drop in entry.deferred:
            owed.setdefault(drop.key, drop)
        for drop in entry.dropped:
            owed.pop(drop.key, None)
        for label in entry.unapplied:
            for key in [key for key in owed if key[0] == label]:
                del owed[key]
    return list(owed.values())


def keep_revisions(entries: list[Release], current: str | None, keep: int) -> set[str]:
    """Revisions whose images must stay: the current one and the newest `keep` releases."""
    kept = {entry.revision for entry in releases_served(entries)[:keep]}
    return kept | ({current} if current else set())

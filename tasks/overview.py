"""What `status` and `releases` show: gathered from a host's observed state (what its
containers run, not what its checkout says) into plain data (the --json output), and
formatted for a person."""

from __future__ import annotations

from dataclasses import asdict

from .commands.images import repository
from .engine import engine_of
from .facts import images as image_facts
from .facts import migrations as migration_facts
from .records import Release, short
from .steps import database, recovery, releases
from .target import Target


def release_dict(entry: Release) -> dict:
    data = asdict(entry)
    data["result"] = str(entry.result)
    return data


def host_status(t: Target, with_plan: bool = True) -> dict:
    found = recovery.view(t, recovery.observe(t))
    observed, serving = found.observed, found.serving
    entries = list(observed.releases)
    served = next((entry for entry in releases.releases_served(entries) if entry.revision == serving.revision), None) if serving.revision else None
    holder = observed.lock
    tags = []
    for image in found.group.images if found.group else []:
        tags += [{"name": tag.name, "id": tag.image_id, "size": tag.size, "release": tag.is_release} for tag in t.probe(image_facts.image_tags(repository(image)), cwd=None)]
    pending = None
    if with_plan and serving.running:
        known = database.plan(t)
        pending = [m.label for m in migration_facts.pending(known)] if known is not None else None
    journal = observed.journal
    return {
        "host": t.name,
        "path": t.path,
        # What the django containers run (the revision their image was built from).
        "revision": serving.revision,
        "serving": serving.describe(),
        "checkout": observed.checkout,
        "deployed_at": served.started if served else None,
        "deployed_by": served.user if served else None,
        "ref": served.ref if served else None,
        "lock": None
        if holder is None
        else {
            "user": holder.info.user if holder.info else None,
            "kind": holder.info.kind if holder.info else None,
            "ref": holder.info.ref if holder.info else None,
            "message": holder.info.message if holder.info else None,
            "since": holder.info.time if holder.info else None,
            "age": holder.info.age() if holder.info else None,
            "holder_alive": holder.holder_alive,
            "described": holder.describe(),
        },
        "interrupted_run": None if journal is None else {"kind": journal.kind, "ref": journal.ref, "user": journal.user, "step": journal.step, "started": journal.started, "target": journal.target},
        "services": engine_of(t).status_rows(t, observed),
        "pending_migrations": pending,
        "images": tags,
        "last_release": release_dict(entries[-1]) if entries else None,
    }


def format_status(status: dict) -> str:
    lines = [f"{status['host']}: {status['path']}"]
    if status["revision"]:
        deployed = f", deployed {status['deployed_at']} by {status['deployed_by']} ({status['ref']})" if status["deployed_at"] else ", not put into service by composeship"
        lines.append(f"  serving   {short(status['revision'])}{deployed}")
    else:
        lines.append(f"  serving   {status['serving']}")
    if status["checkout"] and status["checkout"] != status["revision"]:
        lines.append(f"  checkout  {short(status['checkout'])} (not what serves)")
    held = status["lock"]
    lines.append(f"  lock      {'held by ' + held['described'] if held else 'free'}")
    interrupted = status["interrupted_run"]
    if interrupted:
        lines.append(f"  journal   a {interrupted['kind']} by {interrupted['user']} stopped at step {interrupted['step']!r}: the next run recovers from it")
    pending = status["pending_migrations"]
    if pending is not None:
        lines.append(f"  pending   {len(pending)} migration(s)" + (f": {', '.join(pending)}" if pending else ""))
    for service in status["services"]:
        health = f" ({service['health']})" if service["health"] else ""
        revision = short(service["revision"], "unlabelled")
        kind = " one-off" if service["oneoff"] else ""
        lines.append(f"  service   {service['service']:<14} {service['state']}{health}{kind}  {service['container']}  {revision}")
    for image in status["images"]:
        lines.append(f"  image     {image['name']:<48} {image['size']}")
    return "\n".join(lines)


def format_releases(host: str, entries: list[Release]) -> str:
    if not entries:
        return f"{host}: no releases recorded yet"
    rows = [("time", "user", "kind", "revision", "previous", "result", "seconds", "migrations")]
    for entry in entries:
        migrated = entry.migrations + [f"-{label}" for label in entry.unapplied]
        if len(migrated) > 3:
            migrated = [f"{len(migrated)}: {migration_facts.summarize(migrated, 2)}"]
        result = str(entry.result) + (f" at {entry.step}" if entry.step else "")
        rows.append(
            (
                entry.started,
                entry.user,
                entry.kind,
                short(entry.revision),
                short(entry.previous),
                result,
                f"{entry.seconds:.1f}",
                ", ".join(migrated) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    body = ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1] for row in rows]
    return f"{host}:\n" + "\n".join(body)

"""What `status` and `releases` show: gathered from a host's facts into plain data
(the --json output), and formatted for a person."""

from __future__ import annotations

from .commands import git
from .commands.images import repository
from .facts import compose as compose_facts
from .facts import images as image_facts
from .facts import migrations as migration_facts
from .facts.git import parse_revision
from .steps import database, images, lock, releases
from .target import Target


def host_status(t: Target, with_plan: bool = True) -> dict:
    head = t.run(git.head(), probe=True, stream=False, check=False)
    revision = parse_revision(head.stdout) if head.ok else None
    entries = releases.read_log(t)
    served = next((entry for entry in releases.releases_served(entries) if entry["revision"] == revision), None)
    holder = lock.read(t)
    containers = t.probe(compose_facts.containers(t.project)) if revision else []
    group = images.build_group(t) if revision else None
    tags = []
    for image in group.images if group else []:
        tags += [
            {"name": tag.name, "id": tag.image_id, "size": tag.size, "release": tag.is_release}
            for tag in t.probe(image_facts.image_tags(repository(image)), cwd=None)
        ]
    pending = [m.label for m in migration_facts.pending(database.plan(t))] if (with_plan and revision) else None
    return {
        "host": t.name,
        "path": t.path,
        "revision": revision,
        "deployed_at": served.get("started") if served else None,
        "deployed_by": served.get("user") if served else None,
        "ref": served.get("ref") if served else None,
        "lock": None if holder is None else {"user": holder.user, "kind": holder.kind, "ref": holder.ref, "message": holder.message, "since": holder.time, "age": holder.age()},
        "services": [{"service": c.service, "container": c.name, "state": c.state, "health": c.health or None, "image": c.image} for c in containers],
        "pending_migrations": pending,
        "images": tags,
        "last_release": entries[-1] if entries else None,
    }


def format_status(status: dict) -> str:
    lines = [f"{status['host']}: {status['path']}"]
    if status["revision"]:
        deployed = f", deployed {status['deployed_at']} by {status['deployed_by']} ({status['ref']})" if status["deployed_at"] else ", not deployed by composeship"
        lines.append(f"  revision  {status['revision'][:12]}{deployed}")
    else:
        lines.append("  revision  none: nothing deployed yet")
    held = status["lock"]
    lines.append(f"  lock      {'held by ' + held['user'] + ' (' + held['kind'] + ', ' + held['age'] + ')' + (': ' + held['message'] if held['message'] else '') if held else 'free'}")
    pending = status["pending_migrations"]
    if pending is not None:
        lines.append(f"  pending   {len(pending)} migration(s)" + (f": {', '.join(pending)}" if pending else ""))
    for service in status["services"]:
        health = f" ({service['health']})" if service["health"] else ""
        lines.append(f"  service   {service['service']:<14} {service['state']}{health}  {service['container']}  {service['image']}")
    for image in status["images"]:
        lines.append(f"  image     {image['name']:<48} {image['size']}")
    return "\n".join(lines)


def format_releases(host: str, entries: list[dict]) -> str:
    if not entries:
        return f"{host}: no releases recorded yet"
    rows = [("time", "user", "kind", "revision", "previous", "result", "seconds", "migrations")]
    for entry in entries:
        migrated = entry.get("migrations", []) + [f"-{label}" for label in entry.get("unapplied", [])]
        if len(migrated) > 3:
            migrated = [f"{len(migrated)}: {migration_facts.summarize(migrated, 2)}"]
        rows.append((
            entry.get("started", "?"),
            entry.get("user", "?"),
            entry.get("kind", "?"),
            (entry.get("revision") or "none")[:12],
            (entry.get("previous") or "none")[:12],
            entry.get("result", "?"),
            f"{entry.get('seconds', 0):.1f}",
            ", ".join(migrated) or "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    body = ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows]
    return f"{host}:\n" + "\n".join(body)


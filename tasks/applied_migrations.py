"""What `inv local.migrate` applied, remembered per project: each migration file's
hash at the time. An applied migration whose file changed since is worth a warning:
the local database will never run the edited version, and neither will production's."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

SKIPPED_FOLDERS = {".git", "node_modules", "__pycache__", ".venv", "venv"}


def state_file(project_dir: Path) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha1(str(project_dir.resolve()).encode()).hexdigest()[:16]
    return cache / "composeship" / f"applied-{key}.json"


def migration_files(project_dir: Path) -> dict[tuple[str, str], Path]:
    """(app folder, migration name) -> file, for every migration file of the project."""
    found = {}
    for folder, dirs, files in os.walk(project_dir):
        dirs[:] = [d for d in dirs if d not in SKIPPED_FOLDERS]
        if os.path.basename(folder) != "migrations":
            continue
        app = os.path.basename(os.path.dirname(folder))
        for name in files:
            if name.endswith(".py") and name != "__init__.py":
                found[(app, name[:-3])] = Path(folder) / name
    return found


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(project_dir: Path) -> dict:
    path = state_file(project_dir)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def remember(project_dir: Path, labels: list[str]) -> None:
    """Record the files of the migrations `migrate` just applied."""
    files = migration_files(project_dir)
    state = load(project_dir)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for label in labels:
        app, _, name = label.partition(".")
        path = files.get((app, name))
        if path:
            state[str(path.relative_to(project_dir))] = {"label": label, "sha256": _digest(path), "applied": now}
    target = state_file(project_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(state, indent=1, sort_keys=True))


def edited(project_dir: Path) -> list[tuple[str, str, str]]:
    """(file, label, when applied) of applied migrations whose file changed or went away."""
    found = []
    for relative, entry in sorted(load(project_dir).items()):
        path = project_dir / relative
        if not path.exists() or _digest(path) != entry.get("sha256"):
            found.append((relative, entry.get("label", "?"), entry.get("applied", "?")))
    return found

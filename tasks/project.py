"""The task collections a project loads: its `tasks.py` (for `inv`) and `fabfile.py`
(for `fab`), as `composeship init` writes them, and composeship's own checkout. Each
call builds fresh collections, so a project may add its own tasks to them."""

from __future__ import annotations

import sys
from typing import Literal

from invoke import Collection, Task

from . import local


def local_collection() -> Collection:
    """`local.*`: the local workflow against the project's compose file."""
    return Collection.from_module(local, name="local")


def inv_namespace() -> Collection:
    """What `inv` shows: `local.*`."""
    ns = Collection()
    ns.add_collection(local_collection())
    return ns


def server_tasks() -> tuple[Task, ...]:
    from . import remote  # Fabric and SSH: only `fab` needs them

    return (
        remote.setup,
        remote.deploy,
        remote.migrate_only,
        remote.rollback,
        remote.status,
        remote.releases_,
        remote.logs,
        remote.manage,
        remote.backup,
        remote.backups,
        remote.check,
        remote.lock,
        remote.unlock,
        remote.lock_status,
    )


def fab_namespace() -> Collection:
    """What `fab` shows: the server tasks, and `local.*` too (they need no -H)."""
    ns = Collection(*server_tasks())
    ns.add_collection(local_collection())
    return ns


def include(module_globals: dict, tool: Literal["inv", "fab"]) -> Collection:
    """Add composeship's tasks to a project's own tasks.py or fabfile.py: call it last,
    as `ns = include(globals(), "fab")`. The module's own collection (`ns`, or one made
    from its tasks) is kept; a task or collection name it has already stays its own."""
    ours = fab_namespace() if tool == "fab" else inv_namespace()
    theirs = module_globals.get("ns", module_globals.get("namespace"))
    if not isinstance(theirs, Collection):
        module = sys.modules.get(module_globals.get("__name__", ""))
        theirs = Collection.from_module(module) if module is not None else Collection(*[v for v in module_globals.values() if isinstance(v, Task)])
    for name, task in ours.tasks.items():
        if name not in theirs.tasks and name not in theirs.collections:
            theirs.add_task(task, name)
    for name, collection in ours.collections.items():
        if name not in theirs.tasks and name not in theirs.collections:
            theirs.add_collection(collection, name)
    return theirs

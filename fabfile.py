"""`fab -H HOST TASK`: the server tasks. The local tasks are here too, under `local.`
(they need no -H). `fab --list` shows them all; `fab --help TASK` shows a task's flags."""

from invoke import Collection

from tasks import local, remote

ns = Collection(
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
ns.add_collection(Collection.from_module(local, name="local"))
# fabric.json next to this file sets tasks.executor_class (tasks/fab_executor.py): words
# after `--` go to the task, never to a remote shell, and `-H a,b deploy` is one deploy.

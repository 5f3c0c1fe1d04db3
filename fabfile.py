"""`fab -H HOST TASK`: the server tasks (deploy, migrate-only, check, lock, unlock,
lock-status). The local tasks are here too, under `local.` (they need no -H).
`fab --list` shows them all; `fab --help TASK` shows a task's flags."""

from invoke import Collection

from tasks import local, remote

ns = Collection(remote.deploy, remote.migrate_only, remote.check, remote.lock, remote.unlock, remote.lock_status)
ns.add_collection(Collection.from_module(local, name="local"))

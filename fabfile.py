"""`fab --list`: the local tasks (run here with no -H). Server tasks arrive with the
remote deploy."""

from invoke import Collection

from tasks import local

ns = Collection()
ns.add_collection(Collection.from_module(local, name="local"))

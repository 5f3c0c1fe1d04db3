"""The Invoke collection: `inv --list` from the repository root shows these tasks.
Server tasks live in fabfile.py (`fab --list`)."""

from invoke import Collection

from . import local

ns = Collection()
ns.add_collection(Collection.from_module(local, name="local"))

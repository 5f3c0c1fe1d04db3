"""composeship. From its checkout this package is `tasks`: `inv --list` from the
repository root shows its collection below, and the server tasks live in fabfile.py
(`fab --list`). Installed (`pip install`), the same folder is the package
`composeship`, which a project's own tasks.py and fabfile.py load (tasks/project.py)."""

from .project import inv_namespace

ns = inv_namespace()

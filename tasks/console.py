"""The `composeship` command (installed by pip): `composeship init` sets up a Django
project's folder for `inv` and `fab`. Everything else runs through those two."""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .errors import DeployError
from .init import init


def _version() -> str:
    try:
        return version("composeship")
    except PackageNotFoundError:
        return "(not installed)"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="composeship",
        description="Deploy Django projects that run on Docker Compose. `composeship init` prepares a project; then `inv local.*` and `fab -H HOST ...` run from its folder.",
    )
    top.add_argument("--version", action="version", version=f"composeship {_version()}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    first = commands.add_parser(
        "init",
        help="write tasks.py, fabfile.py, fabric.json and .composeship/ settings into a Django project",
        description="Write what `inv` and `fab` need in a Django project's folder, filled in from what is detected there. Files that exist are kept.",
    )
    first.add_argument("folder", nargs="?", default=".", help="the project's folder (default: the current one)")
    first.add_argument("--force", action="store_true", help="rewrite the files composeship wrote before (your own tasks.py and fabfile.py are never rewritten)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command is None:
        parser().print_help()
        return 2
    try:
        init(Path(args.folder), force=args.force)
    except DeployError as problem:
        if os.environ.get("COMPOSESHIP_TRACEBACK"):
            raise
        print(f"error: {problem}", file=sys.stderr)
        return problem.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())

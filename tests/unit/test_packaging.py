"""`pip install` ships the folder tasks/ as the package `composeship` (pyproject.toml):
every subpackage is listed, and nothing inside imports itself as `tasks`."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_every_subpackage_of_tasks_is_installed_as_composeship():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"composeship": "tasks"}
    found = sorted("composeship" + ("." + ".".join(p.parent.relative_to(ROOT / "tasks").parts) if p.parent != ROOT / "tasks" else "") for p in (ROOT / "tasks").rglob("__init__.py"))
    assert sorted(config["packages"]) == found


def test_imports_inside_the_package_are_relative():
    absolute = re.compile(r"^\s*(from|import)\s+(tasks|composeship)\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "tasks").rglob("*.py") if absolute.search(p.read_text())]
    assert offenders == []


def test_the_console_command_is_declared():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"composeship": "composeship.console:main"}

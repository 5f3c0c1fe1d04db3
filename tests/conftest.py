"""Session-wide hooks. They live here, at the top of the test paths, because with
pytest-xdist only this conftest is loaded by the process that runs the session (the
workers load the others as they collect)."""

import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "example"


def _controller(config) -> bool:
    """The process that runs the session, not one of pytest-xdist's workers."""
    return not hasattr(config, "workerinput")


def _runs_end_to_end(config) -> bool:
    return not config.args or any("e2e" in arg or arg.rstrip("/") in ("tests", ".") for arg in config.args)


def warm_build_cache() -> None:
    """Build the example's images once, before the workers start: their first tests would
    otherwise each run the same `apt-get install` layers at once (Compose builds with the
    engine's classic builder here, which shares finished layers, not builds under way)."""
    built = subprocess.run(
        ["docker", "compose", "-p", "composeship-warm", "-f", "docker-compose.production.yml", "build", "-q"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    if built.returncode != 0:
        print(f"warning: building the example's images to warm the cache failed: {built.stderr.strip()[-300:]}", file=sys.stderr)


def pytest_sessionstart(session):
    if _controller(session.config):
        from tests.e2e.test_faults import CELLS

        shutil.rmtree(CELLS, ignore_errors=True)
        if _runs_end_to_end(session.config) and shutil.which("docker"):
            warm_build_cache()


def pytest_sessionfinish(session):
    if _controller(session.config):
        from tests.e2e.test_faults import write_table

        write_table()

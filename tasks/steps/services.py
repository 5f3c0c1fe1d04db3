"""Restarting in order: one service at a time, each running (and healthy, where it has
a healthcheck) before the next. `up SERVICE` recreates a service only when its image
or configuration changed, so Postgres and Redis are left alone otherwise."""

from __future__ import annotations

from typing import Sequence

from ..commands import compose
from ..target import Target


def restart_order(preferred: Sequence[str], services: Sequence[str]) -> list[str]:
    first = [name for name in preferred if name in services]
    return first + [name for name in services if name not in first]


def restart(t: Target, services: Sequence[str]) -> None:
    for service in restart_order(t.settings.restart_order, services):
        with t.step(f"restart {service}") as step:
            result = t.run(compose.up_and_wait(t.project, service, t.settings.healthcheck_timeout), stream=False, todo=f"see `docker compose logs {service}` on {t.name}")
            step.note = recreated_note(result.stderr)


def recreated_note(compose_output: str) -> str:
    """Compose reports `Recreated`/`Started` for a container it (re)created, `Running` otherwise."""
    if any(word in compose_output for word in ("Recreated", "Created", "Started")):
        return "recreated"
    return "unchanged" if "Running" in compose_output else ""

"""The health gate: DEPLOY_HEALTHCHECK_URL polled on the server itself, every half
second, until it answers 2xx or the timeout passes."""

from __future__ import annotations

from ..commands import host
from ..errors import DeployError
from ..settings import redact_url
from ..target import Target


def explain(t: Target, ref: str) -> str:
    s = t.settings
    return f"{redact_url(s.healthcheck_url)} within {s.healthcheck_timeout}s" if s.healthcheck_url else "skipped: DEPLOY_HEALTHCHECK_URL is not set"


def gate(t: Target) -> None:
    url = t.settings.healthcheck_url
    if not url:
        t.skip("health", "DEPLOY_HEALTHCHECK_URL is not set")
        return
    timeout = t.settings.healthcheck_timeout
    with t.step("health") as step:
        # Only polls: a stop signal need not wait for it.
        result = t.run(host.wait_for_http(url, timeout), cwd=None, stream=False, check=False, interruptible=True)
        # curl's complaint quotes the URL: shown as the plan shows it.
        answer = (result.stdout.strip().splitlines() or ["no answer"])[-1].replace(url, redact_url(url))
        step.note = answer if not result.printed else ""
        if not result.ok:
            raise DeployError(f"{redact_url(url)} did not answer 2xx within {timeout}s (last: {answer})", "")

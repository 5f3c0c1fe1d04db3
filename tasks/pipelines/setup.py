"""`setup`, top to bottom: tools (Docker, Compose v2, access, git), on a swarm that
the host is an active manager and that DEPLOY_REGISTRY answers, checkout (create
DEPLOY_PATH and clone, only when there is none), needs (the compose file's env files
and published ports), then the list of what is missing, or "ready". A step that found
something missing ends as `missing`."""

from __future__ import annotations

from ..engine import engine_of
from ..errors import HostError
from ..steps.setup import Missing, check_tools, describe_needs, judge_needs, prepare_checkout, read_needs
from ..target import Target

MISSING = "missing"


def setup(t: Target) -> list[Missing]:
    missing: list[Missing] = []
    with t.step("tools") as step:
        tools = check_tools(t)
        step.note = tools.describe()
        if tools.missing:
            step.status, missing = MISSING, missing + tools.missing

    for name, check in engine_of(t).setup_checks(t):
        with t.step(name) as step:
            try:
                step.note = check()
            except HostError as problem:
                step.status, missing = MISSING, missing + [Missing(problem.what, problem.todo)]

    with t.step("checkout") as step:
        checkout = prepare_checkout(t, tools, t.settings.ref)
        step.note = checkout.note
        if checkout.missing:
            step.status, missing = MISSING, missing + checkout.missing

    if checkout.printed:
        t.skip("needs", "read from the checkout once it is cloned (a dry run does not clone)")
    elif not checkout.readable:
        t.skip("needs", "no checkout to read the compose file from")
    else:
        with t.step("needs") as step:
            needs = read_needs(t)
            if isinstance(needs, Missing):
                lacking = [needs]
            else:
                step.note = describe_needs(needs)
                lacking = judge_needs(t, needs)
            if lacking:
                step.status, missing = MISSING, missing + lacking

    if missing:
        t.report.say(f"{t.name} lacks {len(missing)} thing(s) for a deploy:")
        for item in missing:
            t.report.say(f"  - {item}")
        raise HostError(f"{t.name} is not ready for a deploy: {len(missing)} thing(s) missing, listed above", f"add them, then run `fab -H {t.name} setup` again")
    t.report.say(f"{t.name} is ready: deploy with `fab -H {t.name} deploy`" + (" (dry run: nothing was cloned)" if checkout.printed else ""))
    return missing

"""pipelines/pipeline.py: a pipeline is its list of steps, and the plan a run prints
first is that list. Each case runs a deploy, a rollback or a migrate-only on a recorded host and checks that the
steps it went through (done or skipped, in the output) are the plan's, in the plan's
order: the printed plan cannot promise a step the run leaves out or hide one it runs."""

import io
import re
from types import SimpleNamespace as S

from invoke import Result

from tasks.executor import Executor, PrintingExecutor
from tasks.pipelines import deploy as d
from tasks.pipelines import rollback as r
from tasks.pipelines.deploy import DeployOptions, deploy
from tasks.pipelines.migrate_only import migrate_only
from tasks.pipelines.pipeline import Step, Where, groups
from tasks.pipelines.rollback import rollback
from tasks.report import Report
from tasks.settings import load
from tasks.steps.migrations import Decision
from tasks.target import Target
from tests.unit.recorded_host import RecordedHost
from tests.unit.test_deploy_failures import CHECK, MIGRATE, READ_LOCK, TAKE_LOCK, Lock, report_with_0002
from tests.unit.test_pipeline_dry_run import NEW, probes, swarm_probes
from tests.unit.test_rollback_pipeline import OPERATIONS, reversible, target_on
from tests.unit.test_rollback_pipeline import with_migrations as migrated_between

ENVIRON = {"DEPLOY_PATH": "/srv/shop", "DEPLOY_HEALTHCHECK_URL": "http://127.0.0.1:8000/health/", "DEPLOY_HEALTHCHECK_TIMEOUT": "1"}


def plan_of(output: str) -> list[str]:
    # "  12. health        http://…": the name is padded, then two spaces.
    return [m[1] for m in re.finditer(r"^(?:# )? +\d+\. (.+?)  ", output, re.M)]


def steps_run(output: str, names: list[str]) -> list[str]:
    """The plan's steps as the run went through them: sub-steps (the migration check,
    each service's restart) left out, a step seen twice in a row once."""
    ran = [m[1] for m in re.finditer(r"^(?:# )?(?:==>|---) (.+?) \[web1\]", output, re.M) if m[1] in names]
    return [name for i, name in enumerate(ran) if i == 0 or ran[i - 1] != name]


def run(tmp_path, *, dry_run=False, options=None, answers=probes, **environ) -> str:
    lock = Lock()
    host = RecordedHost({TAKE_LOCK: lock.take, READ_LOCK: lock.read, **answers(), CHECK: Result(report_with_0002()), r".*": Result("")})
    settings = load("production", host="web1", environ={"DEPLOY_CONFIG_DIR": str(tmp_path), **ENVIRON, **environ})
    out = io.StringIO()
    executor = PrintingExecutor(host, host="web1", out=out) if dry_run else Executor(host, host="web1", out=out)
    target = Target("web1", settings, executor, Report("deploy", "web1", dry_run=dry_run, out=out))
    with target.report:
        deploy([target], "main", options=options)
    return out.getvalue()


def test_a_release_with_a_migration_goes_through_every_step_of_its_plan_in_order(tmp_path):
    output = run(tmp_path)
    plan = plan_of(output)
    assert plan[:4] == ["preflight", "clone", "lock", "observe"] and plan[-2:] == ["record", "unlock"]
    assert steps_run(output, plan) == plan


def test_a_dry_run_prints_the_same_plan_and_goes_through_it(tmp_path):
    output = run(tmp_path, dry_run=True)
    assert steps_run(output, plan_of(output)) == plan_of(output)
    assert plan_of(output) == plan_of(run(tmp_path))


def test_deploy_plan_prints_the_steps_it_takes_and_no_migrate_or_restart(tmp_path):
    output = run(tmp_path, options=DeployOptions(plan_only=True))
    plan = plan_of(output)
    assert "migrate" not in plan and "restart" not in plan and "restart plan" in plan
    assert steps_run(output, plan) == plan


def test_on_a_swarm_the_plan_holds_its_steps_and_the_run_goes_through_them(tmp_path):
    files = "docker-compose.production.yml:docker-compose.swarm.yml"
    output = run(tmp_path, dry_run=True, answers=swarm_probes, DEPLOY_ENGINE="swarm", DEPLOY_COMPOSE_PROJECT="shop", DEPLOY_COMPOSE_FILE=files)
    plan = plan_of(output)
    assert plan.index("build") < plan.index("stack") < plan.index("plan")
    assert steps_run(output, plan) == plan


def test_consecutive_steps_on_the_same_hosts_are_one_group():
    def step(name, where):
        return Step(name, lambda t, ref: "", where=where)

    steps = [
        step("fetch", Where.EVERY_HOST),
        step("build", Where.EVERY_HOST),
        step("plan", Where.PRIMARY),
        step("restart", Where.ROLLOUT),
        step("health", Where.ROLLOUT),
        step("post-migrate", Where.ONCE_SERVED),
    ]
    assert [(where, [s.name for s in group]) for where, group in groups(steps)] == [
        (Where.EVERY_HOST, ["fetch", "build"]),
        (Where.PRIMARY, ["plan"]),
        (Where.ROLLOUT, ["restart", "health"]),
        (Where.ONCE_SERVED, ["post-migrate"]),
    ]


def rollback_output(tmp_path, with_migrations: bool) -> str:
    t, _ = migrated_between(tmp_path, {OPERATIONS: reversible()}) if with_migrations else target_on(tmp_path, {})
    with t.report:
        rollback(t, None, with_migrations=with_migrations)
    return t.report.out.getvalue()


def test_a_rollback_goes_through_every_step_of_its_plan_in_order(tmp_path):
    output = rollback_output(tmp_path, with_migrations=False)
    plan = plan_of(output)
    assert plan == ["preflight", "lock", "observe", "choose", "plan", "unmigrate", "switch", "restart", "health", "record", "unlock"]
    assert steps_run(output, plan) == plan


def test_a_rollback_that_reverses_migrations_goes_through_its_plan_in_order(tmp_path):
    output = rollback_output(tmp_path, with_migrations=True)
    plan = plan_of(output)
    assert plan.index("plan") < plan.index("reversible") < plan.index("backup") < plan.index("unmigrate") < plan.index("switch")
    assert steps_run(output, plan) == plan


def test_migrate_only_goes_through_every_step_of_its_plan_in_order(tmp_path):
    t, _ = target_on(tmp_path, {CHECK: Result(report_with_0002()), MIGRATE: Result("Running migrations:\n  Applying notes.0002_note_body... OK\n")})
    with t.report:
        migrate_only(t, force=False)
    output = t.report.out.getvalue()
    plan = plan_of(output)
    assert plan == ["preflight", "lock", "observe", "align", "plan", "stale image", "backup", "migrate", "record", "unlock"]
    assert steps_run(output, plan) == plan


def test_a_repository_without_a_commit_goes_through_the_clone_step(tmp_path):
    """A first clone stopped after `git init`: preflight takes it for a first deploy, and
    the clone step runs (again) instead of being skipped for a checkout."""

    def headless():
        return {
            **probes(),
            r"git rev-parse --verify --quiet 'HEAD\^\{commit\}'": Result(exited=1),
            r"git ls-remote .* git@example.com:me/shop.git main": Result(f"{NEW}\trefs/heads/main\n"),
        }

    output = run(tmp_path, dry_run=True, answers=headless, DEPLOY_REPO_URL="git@example.com:me/shop.git")
    assert "first deploy: will clone" in output and "--- clone [web1] skipped" not in output
    assert "git init -q -- /srv/shop" in output


def test_each_steps_decision_as_data():
    """Why a step is not needed, from what the steps before it found (None: do it)."""
    host = S(name="web1", path="/srv/shop")

    def run(revision=None, checkout=None, previous=None):
        return S(t=host, revision=revision, previous=previous, view=S(observed=S(checkout=checkout)))

    assert d._clone_needed(S(no_checkout={"web1"}), run()) is None
    assert d._clone_needed(S(no_checkout=set()), run()) == "/srv/shop is a checkout already"
    assert d._checked_out_already(None, run("a" * 40, checkout="a" * 40)) == "aaaaaaaaaaaa is checked out already"
    assert d._checked_out_already(None, run("a" * 40, checkout="b" * 40)) is None
    assert d._checked_out_already(None, run(None, checkout="b" * 40)) is None  # a dry run that only printed the fetch
    assert d._no_release_added(None, run("a" * 40, previous="a" * 40)) == "the revision served already: no release was added"
    assert d._no_release_added(None, run("a" * 40, previous="b" * 40)) is None
    assert d._nothing_after(S(planned=None), run()) is not None
    assert d._nothing_after(S(planned=S(decision=Decision(before=None))), run()) is not None
    assert d._nothing_after(S(planned=S(decision=Decision(before=None, after=object()))), run()) is None

    def job(undo=(), with_migrations=True, no_backup=False):
        return r.Rollback(None, with_migrations, no_backup, undo=list(undo))

    assert r._nothing_to_reverse(job(), None) == "nothing to reverse"
    assert r._nothing_to_reverse(job(["notes.0002_x"]), None) is None
    assert r._no_backup_wanted(job(["notes.0002_x"], no_backup=True), None) == "--no-backup: reversing without a backup"
    assert r._no_backup_wanted(job(["notes.0002_x"]), None) is None
    assert r._left_applied(job(["notes.0002_x"], with_migrations=False), None) == "left applied: notes.0002_x (pass --migrations to reverse them)"
    assert r._left_applied(job(["notes.0002_x"]), None) is None
    assert r._left_applied(job(with_migrations=False), None) == "nothing to reverse"

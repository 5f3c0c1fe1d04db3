"""Whether the pending migrations are safe while the old code still serves: the facts
come from Django's migration graph in a one-off container of the new image
(migration_check_script.py), the verdicts from the rules here. Each operation is
`unsafe` (the running release breaks: a column or table it uses goes away or changes,
or a constraint it may violate appears), `slow` (locks a table while it runs),
`unknown` (code Django cannot check), or `safe`. Two of the operations that break the
old code are made safe by composeship itself, on PostgreSQL, without a mark: a NOT NULL
column with a default is `kept` (the default stays in the database, set in the
migration's own transaction, so that the old release's INSERTs, which leave the column
out, still work), and a dropped column or table is `deferred` (the migration is applied
before the rollout with its drop left out, the column made nullable, and the drop runs
once the new release serves everywhere)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..commands.migrate import KeepDefault
from ..records import DeferredDrop
from . import reads
from .migrations import Migration, format_plan

SCRIPT = Path(__file__).with_name("migration_check_script.py")
MARK = "COMPOSESHIP-MIGRATION "

UNSAFE, SLOW, UNKNOWN, SAFE = "unsafe", "slow", "unknown", "safe"
KEPT, DEFERRED = "kept", "deferred"
# How a migration says it knows: composeship's own attribute, django-safemigrate's
# `safe`, syzygy's `stage`.
ACKNOWLEDGED, POST_DEPLOY = "safe", "post-deploy"

EXPAND_CONTRACT_DROP = (
    "expand/contract: first release the code without it (remove it from the model with SeparateDatabaseAndState(state_operations=[...]), so the database keeps it), then drop it in a later release"
)
ADD_NULLABLE = "add it nullable (or with db_default=, Django 5+), backfill, then make it NOT NULL in a later release"
HARMLESS = frozenset(
    {
        "CreateModel",
        "AddIndexConcurrently",
        "RemoveIndex",
        "RemoveIndexConcurrently",
        "RemoveConstraint",
        "RenameIndex",
        "AlterModelOptions",
        "AlterModelManagers",
        "AlterModelTableComment",
    }
)


@dataclass(frozen=True)
class Verdict:
    """What one operation does to the old code, and for `kept`, the database expression
    that stands for a callable default (None: the constant Django computes)."""

    verdict: str
    why: str = ""
    safe_way: str = ""
    expression: str | None = None


@dataclass(frozen=True)
class Finding:
    migration: str
    operation: str
    description: str
    verdict: str
    why: str = ""
    safe_way: str = ""
    index: int = -1  # the operation's place in its migration (-1: not an operation)
    expression: str | None = None

    def line(self) -> str:
        return f"{self.migration}: {self.operation} ({self.description}) is {VERDICT_TEXT[self.verdict]}: {self.why}"


VERDICT_TEXT = {
    UNSAFE: "unsafe while the old code serves",
    SLOW: "slow or locking on an existing table",
    UNKNOWN: "not checked (it runs code)",
    SAFE: "safe",
    KEPT: "default kept in the database while the old code runs",
    DEFERRED: "deferred until the new release serves",
}


@dataclass(frozen=True)
class Handling:
    """What composeship does to pending migrations, inside the migrate container, to make
    them safe for the old code: defaults it keeps, drops it defers."""

    keep: tuple[KeepDefault, ...] = ()
    defer: tuple[DeferredDrop, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.keep or self.defer)


@dataclass(frozen=True)
class PendingMigration:
    label: str
    acknowledged: str | None = None  # ACKNOWLEDGED or POST_DEPLOY
    by: str = ""  # the attribute that says so
    operations: tuple[dict, ...] = ()
    dependencies: tuple[str, ...] = ()

    @property
    def app(self) -> str:
        return self.label.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.label.split(".", 1)[1]


@dataclass(frozen=True)
class Stages:
    """When each pending migration runs in a deploy: `before` the rollout (the old code
    still serving), or `after` it (marked post-deploy: once no old code runs).
    `stranded`: unmarked migrations that depend on a post-deploy one, so they could
    only run after the rollout, while the new code expects them before it."""

    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    stranded: dict[str, str] = field(default_factory=dict)  # label -> the post-deploy one it needs
    # The migrations to migrate to before the rollout, when some run after it: the
    # `before` ones that no other `before` one depends on. Empty: migrate everything.
    targets: tuple[tuple[str, str], ...] = ()


def stages(pending: list[PendingMigration]) -> Stages:
    """Split the pending migrations (in plan order) into those migrated before the
    rollout and those migrated after it; what depends on a post-deploy migration runs
    after it too."""
    after: list[str] = []
    stranded: dict[str, str] = {}
    for migration in pending:
        needs = next((dependency for dependency in migration.dependencies if dependency in after), None)
        if migration.acknowledged == POST_DEPLOY or needs:
            after.append(migration.label)
            if migration.acknowledged != POST_DEPLOY:
                stranded[migration.label] = needs
    before = [m for m in pending if m.label not in after]
    if not after:
        return Stages(before=tuple(m.label for m in before))
    needed = {dependency for m in before for dependency in m.dependencies}
    targets = tuple((m.app, m.name) for m in before if m.label not in needed)
    return Stages(tuple(m.label for m in before), tuple(after), stranded, targets)


@dataclass(frozen=True)
class CheckReport:
    plan: list[Migration]
    pending: list[PendingMigration] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @cached_property
    def stages(self) -> Stages:
        return stages(self.pending)

    @cached_property
    def handling(self) -> Handling:
        """The defaults to keep (whenever their migration runs: a rollback may bring the
        old code back) and the drops to defer (of migrations that run before the
        rollout; one that runs after it needs no deferring)."""
        after = self.stages.after
        keep = tuple(KeepDefault(f.migration, f.index, f.expression) for f in self.of(KEPT))
        defer = tuple(DeferredDrop(f.migration, f.index, f.description) for f in self.of(DEFERRED) if f.migration not in after)
        return Handling(keep, defer)

    def of(self, verdict: str) -> list[Finding]:
        return [f for f in self.findings if f.verdict == verdict]

    def acknowledgement(self, label: str) -> PendingMigration | None:
        return next((p for p in self.pending if p.label == label), None)

    def summary(self) -> str:
        after = self.stages.after
        now = [f for f in self.findings if f.migration not in after]
        counts = [f"{n} {v}" for v in (UNSAFE, SLOW, UNKNOWN) if (n := sum(f.verdict == v for f in now))]
        handling = self.handling
        counts += [f"{len(handling.keep)} default(s) kept in the database"] if handling.keep else []
        counts += [f"{len(handling.defer)} drop(s) deferred until the new release serves"] if handling.defer else []
        counts += [f"{len(after)} migration(s) after the rollout"] if after else []
        return ", ".join(counts) if counts else "every operation safe while the old code serves"


def script(pending_only: list[str] | None = None) -> str:
    """The check program for `manage.py shell -c`. `pending_only`: the labels to judge as
    pending, whatever the database has applied (the local check of what deploy will
    see); None: what the database lacks."""
    return SCRIPT.read_text() + f"\nmain(pending_only={pending_only!r})\n"


# The finding for a `composeship = "..."` value that is neither of the two above.
MARK_OPERATION = "mark"


def unknown_mark(record: dict) -> str:
    """A `composeship` attribute whose value composeship does not know (a typo such as
    "postdeploy" must not let the migration run before the rollout), shortened."""
    value = record.get("composeship")
    if value is None or str(value).lower() in (ACKNOWLEDGED, POST_DEPLOY):
        return ""
    return str(value)[:40]


def acknowledgement(record: dict) -> tuple[str | None, str]:
    """(ACKNOWLEDGED, POST_DEPLOY or None, which attribute said so) of a pending migration."""
    own = str(record.get("composeship") or "").lower()
    if own in (ACKNOWLEDGED, POST_DEPLOY):
        return own, f'composeship = "{own}"'
    safe = record.get("safemigrate")
    # django-safemigrate 1.x: True (before the deploy) or False (after it).
    if isinstance(safe, bool):
        safe = "before_deploy" if safe else "after_deploy"
    safe = str(safe or "").lower()
    if safe == "always":
        return ACKNOWLEDGED, "safe = Safe.always()"
    if safe == "after_deploy":
        return POST_DEPLOY, "safe = Safe.after_deploy()"
    if "post" in str(record.get("syzygy") or "").lower():
        return POST_DEPLOY, "stage = Stage.POST_DEPLOY"
    return None, ""


WIDER = {
    ("smallint", "integer"),
    ("smallint", "bigint"),
    ("integer", "bigint"),
    ("real", "double precision"),
}
# A wider type that PostgreSQL can only reach by rewriting the table.
REWRITES = {("smallint", "integer"), ("smallint", "bigint"), ("integer", "bigint"), ("real", "double precision")}


def _varchar(db_type: str) -> int | None:
    if db_type.startswith("varchar(") and db_type.endswith(")"):
        return int(db_type[8:-1])
    return None


def type_change(old: str | None, new: str | None) -> str:
    """`same`, `widening` (old values fit, no rewrite), `rewrite` (old values fit, the
    table is rewritten) or `narrowing` (anything else)."""
    if old == new or old is None or new is None:
        return "same"
    old_n, new_n = _varchar(old), _varchar(new)
    if old_n is not None and (new == "text" or (new_n is not None and new_n >= old_n)):
        return "widening"
    if (old, new) in WIDER:
        return "rewrite" if (old, new) in REWRITES else "widening"
    return "narrowing"


@dataclass(frozen=True)
class Database:
    """The database the migrations run on, as the check container saw it."""

    vendor: str = ""
    version: int | None = None  # PostgreSQL's server_version_num, e.g. 150008

    @property
    def postgresql(self) -> bool:
        return self.vendor == "postgresql"


# Callable defaults the database can compute itself, by the field that has them. Any
# other callable (a function of the project's) cannot be kept.
NOW = "django.utils.timezone.now"
EXPRESSIONS = {
    ("DateTimeField", NOW): "now()",
    ("DateField", NOW): "CURRENT_DATE",
    ("DateField", "datetime.date.today"): "CURRENT_DATE",
    ("UUIDField", "uuid.uuid4"): "gen_random_uuid()",
}
# Callables whose every result is the same value: Django's constant is the default.
CONSTANT_CALLABLES = {"builtins.dict", "builtins.list", "builtins.str", "builtins.int", "builtins.bool", "builtins.tuple"}
GEN_RANDOM_UUID_SINCE = 130000  # PostgreSQL 13 has gen_random_uuid() built in


def keep_default(new: dict, database: Database) -> Verdict:
    """A NOT NULL column with a default, added while the old release (whose INSERTs
    leave it out) serves: the default stays in the database, or, where that cannot be
    done, the deploy stops with the safe way."""
    leave_out = "the running release's INSERTs leave the column out"
    if new.get("unique"):
        return Verdict(UNSAFE, "it adds a unique NOT NULL column: one default cannot serve every row the running release inserts", ADD_NULLABLE)
    if not database.postgresql:
        return Verdict(UNSAFE, f"it adds a NOT NULL column without a database default: {leave_out} and fail (composeship keeps defaults on PostgreSQL only)", ADD_NULLABLE)
    function = new.get("default_callable")
    kind = new.get("field") or ""
    if new.get("auto_now") and not new.get("default"):
        function = NOW
    if function and function not in CONSTANT_CALLABLES:
        expression = EXPRESSIONS.get((kind, function))
        if expression is None:
            return Verdict(
                UNSAFE,
                f"its default is {function}(), which the database cannot compute for the running release's INSERTs, which leave the column out",
                "give it a constant default, or add it nullable, backfill, then make it NOT NULL in a later release (Django 5+: a db_default=)",
            )
        if expression == "gen_random_uuid()" and (database.version or 0) < GEN_RANDOM_UUID_SINCE:
            return Verdict(
                UNSAFE,
                "its default is uuid.uuid4(), which PostgreSQL computes as gen_random_uuid() only from version 13 on",
                "upgrade PostgreSQL to 13 or later, or add the field nullable, backfill, then make it NOT NULL in a later release",
            )
        return Verdict(KEPT, f"{leave_out}: it gets DEFAULT {expression} in the database, set in the migration's own transaction", expression=expression)
    return Verdict(KEPT, f"{leave_out}: the field's default stays in the database, set in the migration's own transaction")


def defer_drop(op: dict, database: Database, what: str) -> Verdict:
    if not database.postgresql:
        return Verdict(UNSAFE, f"it drops {what} that the running release still uses (composeship defers drops on PostgreSQL only)", EXPAND_CONTRACT_DROP)
    old = op.get("old") or {}
    if op.get("operation") == "RemoveField" and old and not old.get("null") and not old.get("m2m"):
        return Verdict(
            DEFERRED,
            f"the running release still reads {what}: it is dropped once the new release serves everywhere, and made nullable first so that the new release's INSERTs, which leave it out, work",
        )
    return Verdict(DEFERRED, f"the running release still reads {what}: it is dropped once the new release serves everywhere")


def classify(op: dict, database: Database | None = None) -> list[Verdict]:
    """The verdicts on one operation; a SeparateDatabaseAndState is judged by what it
    does to the database."""
    database = database or Database()
    kind = op.get("operation", "")
    model = op.get("model", "")
    if kind in ("RunPython", "RunSQL"):
        return [Verdict(UNKNOWN, "it runs code that Django cannot check", "make sure it works with the old code serving, then acknowledge it")]
    if kind == "SeparateDatabaseAndState":
        found = [verdict for inner in op.get("database", []) for verdict in classify({**inner, "nested": True}, database)]
        return found or [Verdict(SAFE, "it changes Django's state only")]
    if op.get("new_table"):
        return [Verdict(SAFE, f"{model} is created by a migration of this release")]
    if kind in HARMLESS:
        return [Verdict(SAFE)]
    # Inside a SeparateDatabaseAndState, the operation is the user's own database
    # change: composeship does not rewrite it.
    nested = op.get("nested", False)
    if kind == "RemoveField":
        if nested:
            return [Verdict(UNSAFE, f"it drops a column of {model} that the running release still reads and writes", EXPAND_CONTRACT_DROP)]
        return [defer_drop(op, database, f"the column {op.get('field')} of {model}")]
    if kind == "DeleteModel":
        if nested:
            return [Verdict(UNSAFE, f"it drops the table of {model}, which the running release still uses", EXPAND_CONTRACT_DROP)]
        return [defer_drop(op, database, f"the table of {model}")]
    if kind == "RenameField":
        return [
            Verdict(
                UNSAFE,
                "the running release reads and writes the column by its old name",
                "keep the column's name (db_column= the old name), or add the new column, write both, backfill, and drop the old one in a later release",
            )
        ]
    if kind in ("RenameModel", "AlterModelTable"):
        return [Verdict(UNSAFE, "the running release uses the table by its old name", "keep the table's name (Meta.db_table = the old name)")]
    if kind == "AddField":
        new = op.get("new") or {}
        if new.get("m2m") or new.get("null", True) or new.get("db_default"):
            return [Verdict(SAFE)]
        if not new.get("default") and not new.get("auto_now"):
            return [Verdict(UNSAFE, "it adds a NOT NULL column without a database default: the running release's INSERTs leave it out and fail", ADD_NULLABLE)]
        if nested:
            return [Verdict(UNSAFE, "it adds a NOT NULL column without a database default: the running release's INSERTs leave it out and fail", ADD_NULLABLE)]
        return [keep_default(new, database)]
    if kind == "AlterField":
        return _alter_field(op.get("old"), op.get("new") or {})
    if kind == "AddIndex":
        return [
            Verdict(
                SLOW,
                "it builds the index without CONCURRENTLY: writes to the table wait until it is built",
                "use django.contrib.postgres.operations.AddIndexConcurrently in a migration with atomic = False",
            )
        ]
    if kind == "AddConstraint":
        return [
            Verdict(
                UNSAFE,
                f"a {op.get('constraint') or 'constraint'} that the running release may violate, validated on the whole table under a lock",
                "release code that respects it first; for a check constraint, add it NOT VALID and VALIDATE it in a later migration",
            )
        ]
    if kind == "AlterUniqueTogether":
        if op.get("added"):
            return [Verdict(UNSAFE, "a unique constraint that the running release may violate", "release code that respects it first, then add it in a later release")]
        return [Verdict(SAFE)]
    if kind == "AlterIndexTogether":
        if op.get("added"):
            return [Verdict(SLOW, "it builds an index without CONCURRENTLY", "use AddIndexConcurrently in a migration with atomic = False")]
        return [Verdict(SAFE)]
    return [Verdict(UNKNOWN, f"composeship has no rule for {kind}", "check it by hand, then acknowledge it")]


def _alter_field(old: dict | None, new: dict) -> list[Verdict]:
    if not old:
        return [Verdict(UNKNOWN, "the field's previous definition is unknown", "check it by hand, then acknowledge it")]
    found = []
    if old.get("null") and not new.get("null"):
        found.append(Verdict(UNSAFE, "it makes the column NOT NULL: the running release may still write NULL, and the whole table is scanned under a lock", ADD_NULLABLE))
    change = type_change(old.get("type"), new.get("type"))
    if change == "narrowing":
        found.append(
            Verdict(
                UNSAFE,
                f"it changes the column's type from {old.get('type')} to {new.get('type')}, which the running release does not expect and which rewrites the table",
                "add a column of the new type, write both, backfill, switch reads, then drop the old one in a later release",
            )
        )
    elif change == "rewrite":
        found.append(Verdict(SLOW, f"widening {old.get('type')} to {new.get('type')} rewrites the table under a lock", "run it at a quiet time"))
    if new.get("unique") and not old.get("unique"):
        found.append(Verdict(UNSAFE, "it adds a unique constraint that the running release may violate", "release code that respects it first, then add it in a later release"))
    elif new.get("index") and not old.get("index"):
        found.append(Verdict(SLOW, "it builds an index without CONCURRENTLY", "use AddIndexConcurrently in a migration with atomic = False"))
    return found or [Verdict(SAFE)]


def cannot_wait(pending: list[PendingMigration], findings: list[Finding]) -> list[Finding]:
    """A deferred drop that a later operation of the same release needs done (the field
    added again under its name, the table created again): it cannot wait for the
    rollout, so the deploy stops, naming both."""
    found = []
    after = stages(pending).after
    order = [(p.label, index, op) for p in pending for index, op in enumerate(p.operations)]
    for finding in (f for f in findings if f.verdict == DEFERRED and f.migration not in after):
        position = next(n for n, (label, index, _) in enumerate(order) if label == finding.migration and index == finding.index)
        _, _, dropped = order[position]
        for label, _, later in order[position + 1 :]:
            if _reuses(dropped, later):
                found.append(
                    Finding(
                        finding.migration,
                        "dependency",
                        f"{later.get('description')} in {label}",
                        UNSAFE,
                        f"{label} needs what {finding.migration} drops ({dropped.get('description')}) gone before the rollout, so the drop cannot wait until the new release serves",
                        f"release the drop ({finding.migration}) in one deploy and {label} in a later one",
                    )
                )
                break
    return found


def _reuses(dropped: dict, later: dict) -> bool:
    model, kind = str(dropped.get("model", "")).lower(), later.get("operation")
    if dropped.get("operation") == "RemoveField":
        name = dropped.get("field")
        if str(later.get("model", "")).lower() != model:
            return False
        return (kind in ("AddField", "AlterField") and later.get("field") == name) or (kind == "RenameField" and later.get("new_name") == name)
    if dropped.get("operation") == "DeleteModel":
        return (kind == "CreateModel" and str(later.get("model", "")).lower() == model) or (kind == "RenameModel" and str(later.get("new_name", "")).lower() == model)
    return False


@reads("the migration check", "run `python manage.py showmigrations --plan` in the django image to see why Django cannot load the migrations")
def parse_report(stdout: str) -> CheckReport:
    """The check script's JSON lines (after the mark) -> the plan and the findings."""
    plan, pending, findings = [], [], []
    database = Database()
    for line in stdout.splitlines():
        if not line.startswith(MARK):
            continue
        record = json.loads(line[len(MARK) :])
        if record.get("kind") == "database":
            version = record.get("version")
            database = Database(str(record.get("vendor") or ""), int(version) if isinstance(version, int) else None)
        elif record.get("kind") == "migration":
            plan.append(Migration(record["app"], record["name"], bool(record["applied"])))
        elif record.get("kind") == "pending":
            label = f"{record['app']}.{record['name']}"
            acknowledged, by = acknowledgement(record)
            misspelt = unknown_mark(record)
            if misspelt:
                findings.append(
                    Finding(
                        label,
                        MARK_OPERATION,
                        f'composeship = "{misspelt}"',
                        UNSAFE,
                        "composeship knows no such value, so it cannot tell whether the migration should run before the rollout or after it",
                        f'write composeship = "{ACKNOWLEDGED}" (checked by hand, runs before the rollout) or composeship = "{POST_DEPLOY}" (runs after it)',
                    )
                )
            operations = tuple(record.get("operations") or ())
            pending.append(PendingMigration(label, acknowledged, by, operations, tuple(record.get("dependencies") or ())))
            for index, op in enumerate(operations):
                for found in classify(op, database):
                    findings.append(Finding(label, op.get("operation", ""), op.get("description", ""), found.verdict, found.why, found.safe_way, index, found.expression))
    if not plan:
        raise ValueError("no migration report in the output")
    findings += cannot_wait(pending, findings)
    report = CheckReport(plan, pending, findings)
    for label, needs in report.stages.stranded.items():
        findings.append(
            Finding(
                label,
                "dependency",
                f"depends on {needs}",
                UNSAFE,
                f"it depends on {needs}, which is marked to run after the deploy, so it could only run then, while the new release expects it before",
                f'mark {label} post-deploy too (composeship = "post-deploy") if the new release does not need it, or release {needs} in a later deploy',
            )
        )
    return report


def refused(report: CheckReport, allow_unsafe: bool = False) -> list[Finding]:
    """The unsafe operations that stop a deploy: those of migrations that no attribute
    acknowledges (a post-deploy one runs once no old code serves), and unmarked
    migrations stranded behind a post-deploy one."""
    if allow_unsafe:
        return []
    after = report.stages.after
    stopped = []
    for finding in report.of(UNSAFE):
        pending = report.acknowledgement(finding.migration)
        if finding.operation in ("dependency", MARK_OPERATION):
            stopped.append(finding)
        elif finding.migration not in after and (pending is None or pending.acknowledged is None):
            stopped.append(finding)
    return stopped


AFTER_THE_DEPLOY = "after the deploy"


def marks(report: CheckReport | None, label: str, description: str) -> str:
    """What `deploy --plan` adds to an operation's line: when it runs, if after the
    rollout, and its unsafe or slow verdict (moot for the old code once it runs after)."""
    if report is None:
        return ""
    if label in report.stages.after:
        ack = report.acknowledgement(label)
        by = ack.by if ack and ack.acknowledged == POST_DEPLOY else f"it depends on {report.stages.stranded.get(label)}"
        return f" [{AFTER_THE_DEPLOY}: {by}]"
    found = [f for f in report.findings if f.migration == label and f.description == description and f.verdict in (UNSAFE, SLOW, KEPT, DEFERRED)]
    return "".join(f" [{VERDICT_TEXT[f.verdict]}: {f.why}]" for f in found)


def plan_lines(report: CheckReport, pending: list[Migration]) -> list[str]:
    """The pending migrations per app, each operation marked with its verdict."""
    operations = {p.label: [(op["operation"], op["reversible"], op["description"]) for op in p.operations] for p in report.pending}
    return format_plan(pending, operations, lambda label, description: marks(report, label, description))


DEPLOY_CONSEQUENCE = "nothing was migrated or restarted: the old release keeps serving"


def refusal(stopped: list[Finding], report: CheckReport, consequence: str = DEPLOY_CONSEQUENCE) -> tuple[str, str]:
    """(what, what to do) for the unsafe operations that stop a deploy (or, with no
    consequence, a local check)."""
    what = "; ".join(f.line() for f in stopped)
    ways = list(dict.fromkeys(f.safe_way for f in stopped if f.safe_way))
    todo = "; ".join(ways)
    if any(f.operation != "dependency" for f in stopped):
        todo += (
            '; or, when the new release no longer uses what it changes, mark the migration to run after the rollout (composeship = "post-deploy", '
            "or django-safemigrate's safe = Safe.after_deploy()); "
            'once no running code needs what it changes, acknowledge it (composeship = "safe", or safe = Safe.always()) or deploy with --allow-unsafe-migrations'
        )
    return (f"{what}; {consequence}" if consequence else what), todo.lstrip("; ")

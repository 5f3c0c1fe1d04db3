"""Property-based tests of what composeship reads back from a host: every parser of a
command's output, given hostile output (stray marker lines, JSON where none belongs,
none where it does, truncated lines, control characters), either returns a value or
raises composeship's own error (one line, said to the user), never a traceback; and
values read back from the host's own files (a revision from the release log, a
journal's target, a migration label) reach the next command as one word, unchanged."""

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tasks.commands import git
from tasks.errors import DeployError
from tasks.facts import compose, host_state, images, migration_safety, migrations, swarm
from tasks.facts import git as git_facts
from tasks.facts import host as host_facts
from tasks.records import Journal, LockInfo, parse_release_log
from tests.unit.test_inputs_reaching_a_host import TYPED, words_on_the_host

MARKS = [migration_safety.MARK, "@@composeship-batch@@", "@@composeship-test@@", "COMPOSESHIP-MIGRATION", "{", "[", "}", "]", '{"kind":', "null", "\r", "\x1b[2K"]
# Keys the parsers look for, so that JSON of almost the right shape is drawn often.
KEYS = st.sampled_from(["kind", "id", "name", "image", "labels", "Spec", "Name", "app", "applied", "revision", "result"])
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=8,
).map(json.dumps)
LINE = st.one_of(TYPED, JSONISH, st.sampled_from(MARKS), st.builds(lambda mark, body: mark + body, st.sampled_from(MARKS), st.one_of(TYPED, JSONISH)))
OUTPUT = st.lists(LINE, max_size=6).map("\n".join)
MANY = hypothesis_settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PARSERS = {
    "compose config": compose.parse_config,
    "compose up --dry-run": lambda out: compose.parse_up_dry_run(out, "shop", ["django"]),
    "containers and images": host_state.parse_containers,
    "lock state": lambda out: host_state.parse_lock_state(0, out),
    "image list": images.parse_image_list,
    "image inspect": images.parse_inspect,
    "migration check": migration_safety.parse_report,
    "showmigrations --plan": migrations.parse_plan,
    "showmigrations --list": migrations.parse_list,
    "migrate's output": migrations.parse_applied,
    "a reversal's output": migrations.parse_unapplied,
    "operations": migrations.parse_operations,
    "git ls-remote": lambda out: git_facts.parse_ls_remote(out, "main"),
    "git diff --name-status": git_facts.parse_name_status,
    "git rev-parse": git_facts.parse_revision,
    "git status --porcelain": git_facts.parse_dirty_files,
    "git cat-file presence": git_facts.parse_present,
    "git ls-tree": git_facts.parse_paths,
    "compose config --services": compose.parse_services,
    "df": host_facts.parse_free_mb,
    "/proc/net/tcp": host_facts.parse_listening_ports,
    "docker ps ports": host_facts.parse_published,
    "swarm state": swarm.parse_swarm_state,
    "stack services": lambda out: swarm.parse_services(out, "shop"),
    "stack tasks": lambda out: swarm.parse_tasks(out, "shop"),
    "image references": swarm.parse_references,
    "registry check": swarm.parse_registry_check,
    "push digest": lambda out: swarm.parse_digest(out, "10.0.0.5:5000/shop_django:abc"),
    "release log": parse_release_log,
    "journal": Journal.parse,
    "lock info": LockInfo.parse,
}


@pytest.mark.parametrize("name", sorted(PARSERS))
@MANY
@given(output=OUTPUT)
def test_hostile_output_is_read_or_refused_with_composeships_own_error(name, output):
    try:
        PARSERS[name](output)
    except DeployError as refused:
        assert str(refused) and "\n" not in refused.what, refused.what


@MANY
@given(revision=TYPED)
def test_a_revision_read_back_from_the_release_log_reaches_git_as_one_word(revision):
    line = json.dumps({"kind": "deploy", "host": "web1", "user": "ann", "ref": "main", "started": "t", "result": "ok", "revision": revision})
    entries = parse_release_log(line + "\n")
    for entry in entries:
        if entry.revision:
            assert words_on_the_host(git.checkout(entry.revision))[-1] == entry.revision


@MANY
@given(target=TYPED)
def test_a_journals_target_read_back_reaches_git_as_one_word(target):
    journal = Journal.parse(json.dumps({"token": "t", "kind": "deploy", "user": "ann", "ref": "main", "started": "s", "target": target, "serving": target}))
    if journal is not None and journal.serving:
        assert words_on_the_host(git.checkout(journal.serving))[-1] == journal.serving

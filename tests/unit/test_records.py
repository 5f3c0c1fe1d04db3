"""State records are read back exactly the way they are written."""

from tasks.records import Journal, LockInfo, Outcome, Release, parse_release_log
from tasks.steps import releases


def test_a_release_line_reads_back_into_the_same_record():
    written = Release(
        kind="deploy",
        host="web1",
        user="ann@laptop",
        ref="main",
        started="2026-11-26T10:00:00Z",
        previous="a" * 40,
        revision="b" * 40,
        migrations=["notes.0002_x"],
        backup="backup_1.sql.gz",
        result=Outcome.ROLLED_BACK,
        error="health",
        seconds=12.5,
        step="health",
        config="0123456789abcdef",
    )
    [read] = parse_release_log(written.to_json() + "\n")
    assert read == written and read.result is Outcome.ROLLED_BACK


def test_a_torn_or_foreign_line_is_skipped_and_unknown_results_are_failures():
    text = Release("deploy", "h", "u", "main", "t", result=Outcome.OK).to_json() + '\n{"resu\n[1, 2]\n{"kind": "deploy", "result": "exploded"}\n'
    entries = parse_release_log(text)
    assert [e.result for e in entries] == [Outcome.OK, Outcome.FAILED]


def test_lock_info_round_trip_and_age():
    info = LockInfo("ann@laptop", "deploy", "main", "friday release", "2026-11-26T10:00:00Z", 1000, "t0k")
    parsed = LockInfo.parse("\n".join(info.lines()) + "\nsshd_pid=42\nsshd_start=77\n")
    assert parsed == LockInfo("ann@laptop", "deploy", "main", "friday release", "2026-11-26T10:00:00Z", 1000, "t0k", "42", "77")
    assert parsed.age(now=1090) == "90s"
    assert parsed.age(now=1000 + 3 * 3600 + 5 * 60) == "3h05m"
    assert parsed.describe(now=1300) == "ann@laptop (deploy of main, since 2026-11-26T10:00:00Z, 5m ago): friday release"


def test_journal_round_trip_and_garbage():
    journal = Journal("t", "deploy", "ann", "main", "2026", step="build", serving="a" * 40, serving_images={"app": "sha256:1"}, checkout="c" * 40, target="b" * 40)
    assert Journal.parse(journal.to_json()) == journal
    assert Journal.parse("not json") is None
    assert Journal.parse('{"token": "t"}') is None


def served(revision, kind="deploy", result=Outcome.OK, migrations=()):
    return Release(kind, "h", "u", "main", "t", revision=revision, result=result, migrations=list(migrations))


def test_release_log_logic():
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    entries = [served(a, migrations=["notes.0001_initial"]), served(b, migrations=["notes.0002_x"]), served(c, result=Outcome.FAILED), served(c, migrations=["notes.0003_y"])]
    assert releases.previous_release(entries, c).revision == b
    assert [e.revision for e in releases.rollback_candidates(entries, c)] == [b, a]
    assert releases.find_release(entries, "bbbb").revision == b
    assert releases.find_release(entries, "zzz") is None
    assert releases.keep_revisions(entries, c, 2) == {c, b}
    rolled = entries + [served(b, kind="rollback")]
    assert releases.previous_release(rolled, b).revision == c
    assert releases.deployed_ok(entries, c) and not releases.deployed_ok(entries, "d" * 40)
    # What serves was never put there by composeship (a hand deploy): the newest release is the way back.
    assert releases.previous_release(entries, "d" * 40).revision == c


def test_a_revision_is_trusted_to_have_its_migrations_only_if_no_later_run_reversed_them():
    a, b = "a" * 40, "b" * 40
    deployed = [Release("deploy", "h", "u", "main", "t", revision=a, result=Outcome.OK), Release("deploy", "h", "u", "main", "t", revision=b, result=Outcome.OK, migrations=["notes.0002_x"])]
    assert releases.deployed_ok(deployed, b)
    # A rollback to a reversed 0002, then failed after its switch: b serves again.
    failed = Release("rollback", "h", "u", "", "t", revision=a, previous=b, result=Outcome.ROLLED_BACK, step="health", unapplied=["notes.0002_x"])
    assert not releases.deployed_ok([*deployed, failed], b)
    # ... unless its undo applied 0002 again.
    mended = Release("rollback", "h", "u", "", "t", revision=a, previous=b, result=Outcome.ROLLED_BACK, step="health", unapplied=["notes.0002_x"], migrations=["notes.0002_x"])
    assert releases.deployed_ok([*deployed, mended], b)
    # Stopped while reversing: what it reversed is unknown.
    stopped = Release("rollback", "h", "u", "", "t", revision=a, previous=b, result=Outcome.INTERRUPTED, step="unmigrate")
    assert not releases.deployed_ok([*deployed, stopped], b)
    # A later deploy of b that ran migrate is trusted again.
    again = Release("deploy", "h", "u", "main", "t", revision=b, result=Outcome.OK, migrations=["notes.0002_x"])
    assert releases.deployed_ok([*deployed, stopped, again], b)


def test_the_configuration_a_revision_was_served_with_is_the_newest_run_that_served_it():
    a, b = "a" * 40, "b" * 40
    entries = [Release("deploy", "h", "u", "main", "t", revision=a, result=Outcome.OK, config="one")]
    entries.append(Release("deploy", "h", "u", "main", "t", revision=a, result=Outcome.OK, config="two"))
    entries.append(Release("deploy", "h", "u", "main", "t", revision=a, result=Outcome.FAILED, config="three"))
    entries.append(Release("deploy", "h", "u", "main", "t", revision=b, result=Outcome.OK))
    assert releases.served_config(entries, a) == "two"
    assert releases.served_config(entries, b) == "" and releases.served_config(entries, None) == ""


def test_a_rollback_knows_which_migrations_it_leaves_ran_after_a_deploy():
    entries = [Release("deploy", "h", "u", "main", "t", revision="a" * 40, result=Outcome.OK, migrations=["notes.0002_x", "notes.0003_drop"], post_deploy=["notes.0003_drop"])]
    entries.append(Release("deploy", "h", "u", "main", "t", revision="b" * 40, result=Outcome.OK, post_deploy=["shop.0002_drop"]))
    assert releases.post_deploy_among(entries, ["shop.0002_drop", "notes.0003_drop", "notes.0002_x"]) == ["notes.0003_drop", "shop.0002_drop"]
    assert releases.post_deploy_among(entries, ["notes.0002_x"]) == []

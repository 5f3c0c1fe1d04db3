"""The release log read as decisions (steps/releases.py): which releases served and in
what order, the one a rollback goes back to, whether a revision is trusted to have
its migrations, the configuration it was served with, the drops still owed, and
which images prune keeps. Each case is a release log in, an answer out."""

from tasks.records import DeferredDrop, Outcome, Release
from tasks.steps import releases


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


def test_releases_served_newest_first_once_each_and_only_those_that_served():
    a, b = "a" * 40, "b" * 40
    entries = [served(a), served(b), served(a, kind="rollback"), served(b, result=Outcome.FAILED), Release("migrate-only", "h", "u", "", "t", revision=a, result=Outcome.OK)]
    assert [(e.revision, e.kind) for e in releases.releases_served(entries)] == [(a, "rollback"), (b, "deploy")]
    assert releases.newest_serving(entries, a).kind == "rollback"
    assert releases.newest_serving(entries, None) is None and releases.newest_serving(entries, "c" * 40) is None


def test_a_drop_is_owed_until_a_run_does_it_and_forgotten_when_its_migration_is_reversed():
    first, second = DeferredDrop("notes.0003_drop", 0, "Remove field title from note"), DeferredDrop("notes.0004_drop", 0, "Remove field body from note")
    deferred = Release("deploy", "h", "u", "main", "t", revision="a" * 40, result=Outcome.OK, deferred=[first, second])
    assert releases.owed_drops([deferred]) == [first, second]
    paid = Release("deploy", "h", "u", "main", "t", revision="b" * 40, result=Outcome.OK, dropped=[first])
    assert releases.owed_drops([deferred, paid]) == [second]
    reversed_ = Release("rollback", "h", "u", "", "t", revision="c" * 40, result=Outcome.OK, unapplied=["notes.0004_drop"])
    assert releases.owed_drops([deferred, paid, reversed_]) == []

"""State records are read back exactly the way they are written."""

from tasks.records import Journal, LockInfo, Outcome, Release, parse_release_log


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

"""Builders of server commands, by exact value, and the lock and journal scripts run
for real by a local `sh` in a temporary folder (they are pure shell, no SSH)."""

import os
import subprocess

from tasks.commands import git, host, images
from tasks.executor import render
from tasks.facts import git as git_facts
from tasks.facts.host_state import parse_lock_state
from tasks.records import Journal, LockInfo


def test_git_builders():
    assert git.fetch() == ["timeout", "900", "git", "fetch", "--quiet", "--prune", "--tags", "--force", "origin"]
    assert git.resolve("refs/tags/v1.0") == ["git", "rev-parse", "--verify", "--quiet", "refs/tags/v1.0^{commit}"]
    assert git.checkout("abc123") == ["git", "checkout", "--quiet", "--detach", "abc123"]
    assert git.list_file("abc123", "docker-compose.production.yml") == ["git", "ls-tree", "--name-only", "abc123", "--", "docker-compose.production.yml"]
    assert git.init("/srv/app") == ["git", "init", "-q", "--", "/srv/app"]
    assert git.status() == ["git", "status", "--porcelain", "--untracked-files=normal"]


def test_origin_url_is_an_argument_not_script_text():
    argv = git.add_origin("https://example.com/x.git; rm -rf /")
    assert argv[:2] == ["sh", "-c"] and argv[-1] == "https://example.com/x.git; rm -rf /"
    assert "rm -rf" not in argv[2]
    assert render(argv) == "sh -c 'git remote get-url origin >/dev/null 2>&1 || git remote add origin \"$0\"' 'https://example.com/x.git; rm -rf /'"


def test_lock_builders_pass_values_as_arguments():
    argv = host.take_lock("/srv/app/.git/composeship", "/srv/app/.git/composeship/lock", ["user=a", "message=it's $(bad)"])
    assert argv[0:2] == ["sh", "-c"]
    assert argv[3:] == ["/srv/app/.git/composeship/lock", "/srv/app/.git/composeship", "user=a", "message=it's $(bad)"]
    assert "$(bad)" not in argv[2]
    assert host.release_lock("/l", "t0k")[3:] == ["/l", "t0k"]
    assert host.break_lock("/l") == ["rm", "-rf", "--", "/l"]


def sh(argv, cwd):
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True)


def test_the_lock_scripts_take_read_release_and_refuse_on_a_real_shell(tmp_path):
    (tmp_path / ".git").mkdir()
    state, lock = str(tmp_path / ".git/composeship"), str(tmp_path / ".git/composeship/lock")
    info = LockInfo("ann@laptop", "deploy", "main", "friday $(touch pwned)", "2026-11-26T10:00:00Z", 1000, "t0ken")
    assert sh(host.take_lock(state, lock, info.lines()), tmp_path).returncode == 0
    assert sh(host.take_lock(state, lock, info.lines()), tmp_path).returncode != 0, "a second taker must fail"
    read = sh(host.read_lock(lock), tmp_path)
    found = parse_lock_state(read.returncode, read.stdout)
    assert found.info == LockInfo.parse("\n".join(info.lines())) == info, "read back exactly as written"
    assert not (tmp_path / "pwned").exists()
    # Only the token's owner releases it.
    assert sh(host.release_lock(lock, "someone-else"), tmp_path).returncode == 3
    assert sh(host.release_lock(lock, "t0ken"), tmp_path).returncode == 0
    assert sh(host.release_lock(lock, "t0ken"), tmp_path).returncode == 4
    read = sh(host.read_lock(lock), tmp_path)
    assert parse_lock_state(read.returncode, read.stdout) is None


def test_a_lock_folder_without_info_is_reported_as_such(tmp_path):
    lock = tmp_path / "lock"
    lock.mkdir()
    read = sh(host.read_lock(str(lock)), tmp_path)
    state = parse_lock_state(read.returncode, read.stdout)
    assert state is not None and state.info is None
    assert "died while taking it" in state.describe()


def test_the_lock_names_a_dead_connection(tmp_path):
    lock = tmp_path / "lock"
    lock.mkdir()
    # A pid that exists, with a start time that is not its own: another process now.
    (lock / "info").write_text("user=a\nkind=deploy\ntoken=x\nsshd_pid=1\nsshd_start=0\n")
    read = sh(host.read_lock(str(lock)), tmp_path)
    state = parse_lock_state(read.returncode, read.stdout)
    assert state.holder_alive is False and "that run is no longer running here" in state.describe()


def test_the_journal_is_written_only_while_the_lock_is_ours(tmp_path):
    (tmp_path / ".git").mkdir()
    state, lock = str(tmp_path / ".git/composeship"), str(tmp_path / ".git/composeship/lock")
    sh(host.take_lock(state, lock, LockInfo(token="mine").lines()), tmp_path)
    journal_path = f"{state}/journal.json"
    journal = Journal(token="mine", kind="deploy", user="ann", ref="main", started="t", step="migrate", serving="a" * 40, target="b" * 40)
    assert sh(host.write_journal(journal_path, lock, "mine", journal.to_json()), tmp_path).returncode == 0
    assert Journal.parse(open(journal_path).read()) == journal
    assert sh(host.write_journal(journal_path, lock, "stolen", journal.to_json()), tmp_path).returncode == 3
    log = f"{state}/releases.log"
    assert sh(host.record_and_close(log, '{"kind": "deploy"}', journal_path), tmp_path).returncode == 0
    assert open(log).read() == '{"kind": "deploy"}\n'
    assert not (tmp_path / ".git/composeship/journal.json").exists()


def test_a_run_closes_its_journal_but_not_the_one_of_a_run_that_took_its_broken_lock(tmp_path):
    (tmp_path / ".git").mkdir()
    state, lock = str(tmp_path / ".git/composeship"), str(tmp_path / ".git/composeship/lock")
    journal_path, log = f"{state}/journal.json", f"{state}/releases.log"
    sh(host.take_lock(state, lock, LockInfo(token="theirs").lines()), tmp_path)
    open(journal_path, "w").write("{}\n")
    # The lock is another run's: the line goes in, the journal (theirs) stays.
    assert sh(host.close_journal(journal_path, lock, "mine", log, '{"kind": "deploy"}'), tmp_path).returncode == 3
    assert open(log).read() == '{"kind": "deploy"}\n' and open(journal_path).read() == "{}\n"
    # Its own lock, or none left: the journal goes; without a line, none is written.
    assert sh(host.close_journal(journal_path, lock, "theirs"), tmp_path).returncode == 0
    assert not (tmp_path / ".git/composeship/journal.json").exists() and open(log).read() == '{"kind": "deploy"}\n'
    open(journal_path, "w").write("{}\n")
    sh(host.release_lock(lock, "theirs"), tmp_path)
    assert sh(host.close_journal(journal_path, lock, "mine", log, "x"), tmp_path).returncode == 0
    assert not (tmp_path / ".git/composeship/journal.json").exists()


def test_wait_for_http_gives_up_with_curls_complaint(tmp_path):
    result = sh(host.wait_for_http("http://127.0.0.1:9/nothing", 1, 0.2), tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("curl: (7)"), result.stdout


def test_append_line_and_http_status():
    assert host.append_line("/s/releases.log", '{"a": 1}')[3:] == ["/s/releases.log", '{"a": 1}']
    assert host.http_status("http://127.0.0.1:8000/health/") == [
        "curl",
        "--silent",
        "--show-error",
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code}",
        "--max-time",
        "5",
        "http://127.0.0.1:8000/health/",
    ]
    assert host.free_disk("/srv/app")[-1] == "/srv/app"


def test_release_tags():
    assert images.release_tag("example_production_django", "0123456789abcdef") == "example_production_django:0123456789ab"
    assert images.release_tag("registry:5000/team/app:prod", "0123456789abcdef") == "registry:5000/team/app:0123456789ab"
    assert images.release_tag("registry:5000/app", "0123456789abcdef") == "registry:5000/app:0123456789ab"
    assert images.tag("a:1", "a:latest") == ["docker", "tag", "a:1", "a:latest"]
    assert host.in_sequence(images.tag("a:1", "a:latest")) == ["docker", "tag", "a:1", "a:latest"]
    assert host.in_sequence(images.tag("a", "a:1"), images.tag("b c", "b:1")) == ["sh", "-c", "docker tag a a:1 && docker tag 'b c' b:1"]
    assert images.image_id("a") == ["docker", "image", "inspect", "--format", "{{.Id}}", "a"]


def test_ls_remote_says_which_listed_commits_are_here_already(tmp_path):
    def git_in(folder, *args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, capture_output=True, text=True, check=True).stdout.strip()

    origin, here, work = tmp_path / "origin.git", tmp_path / "here", tmp_path / "work"
    git_in(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git_in(tmp_path, "init", "-q", "-b", "main", str(work))
    git_in(work, "commit", "-q", "--allow-empty", "-m", "one")
    git_in(work, "push", "-q", str(origin), "HEAD:main")
    git_in(tmp_path, "clone", "-q", str(origin), str(here))
    first = git_in(work, "rev-parse", "HEAD")
    listed = sh(git.ls_remote_and_presence("main"), here)
    assert git_facts.parse_ls_remote(listed.stdout, "main") == first
    assert git_facts.parse_present(listed.stdout) == {first}
    git_in(work, "commit", "-q", "--allow-empty", "-m", "two")
    git_in(work, "push", "-q", str(origin), "HEAD:main")
    listed = sh(git.ls_remote_and_presence("main"), here)
    assert git_facts.parse_ls_remote(listed.stdout, "main") == git_in(work, "rev-parse", "HEAD")
    assert git_facts.parse_present(listed.stdout) == set(), "the new commit is not fetched yet"
    assert sh(git.ls_remote_and_presence("main", str(tmp_path / "gone.git")), here).returncode != 0


def test_a_drills_held_command_runs_as_it_was_then_exits_as_it_did():
    import subprocess

    from tasks.commands.host import held_after

    held = held_after(["sh", "-c", 'printf "%s" "$1"; exit 3', "sh", "it's; $(not run)"], 0)
    result = subprocess.run(held, capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (3, "it's; $(not run)")


def test_a_lock_whose_info_cannot_be_written_is_not_left_behind(tmp_path):
    # The info cannot be put in place (here an `mv` that fails as on a full disk; the
    # end-to-end test fills a real one): the lock folder goes again, and the exit code
    # says why.
    (tmp_path / ".git").mkdir()
    state, lock = str(tmp_path / ".git/composeship"), str(tmp_path / ".git/composeship/lock")
    blocker = tmp_path / "bin"
    blocker.mkdir()
    (blocker / "mv").write_text("#!/bin/sh\necho 'mv: cannot move: No space left on device' >&2\nexit 1\n")
    (blocker / "mv").chmod(0o755)
    taken = subprocess.run(host.take_lock(state, lock, LockInfo(token="mine").lines()), cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PATH": f"{blocker}:{os.environ['PATH']}"})
    assert taken.returncode == host.LOCK_NOT_WRITTEN, taken.stderr
    assert not (tmp_path / ".git/composeship/lock").exists()
    assert sh(host.take_lock(state, lock, LockInfo(token="next").lines()), tmp_path).returncode == 0, "the next run takes it"


def test_every_compose_file_must_be_there(tmp_path):
    (tmp_path / "a.yml").write_text("")
    assert host.are_files([str(tmp_path / "a.yml")]) == ["test", "-f", str(tmp_path / "a.yml")]
    both = host.are_files([str(tmp_path / "a.yml"), str(tmp_path / "b.yml")])
    assert subprocess.run(both).returncode == 1
    (tmp_path / "b.yml").write_text("")
    assert subprocess.run(both).returncode == 0

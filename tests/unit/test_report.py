"""The report is written from several hosts' threads at once: each line must reach
the terminal whole, or a reader (and a test) sees two steps merged on one line."""

import threading

from tasks.report import Report


class Writes:
    """A stream that keeps each write() call apart."""

    def __init__(self):
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_each_line_is_one_write_ending_in_a_newline():
    out = Writes()
    report = Report("deploy", host="web1", out=out)
    with report.step("record"):
        pass
    report.skip("build", "nothing changed", host="web2")
    assert out.calls == ["==> record [web1]\n", out.calls[1], "--- build [web2] skipped: nothing changed\n"]
    assert out.calls[1].startswith("<== record [web1] ok in ") and out.calls[1].endswith("s\n")


def test_steps_of_many_hosts_at_once_keep_their_lines_whole():
    out = Writes()
    report = Report("deploy", out=out)
    hosts = [f"web{n}" for n in range(8)]

    def run(host: str) -> None:
        for _ in range(50):
            with report.step("record", host=host):
                pass

    threads = [threading.Thread(target=run, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(call.count("\n") == 1 and call.endswith("\n") for call in out.calls)
    assert len(out.calls) == 2 * 50 * len(hosts)
    assert len(report.steps) == 50 * len(hosts)

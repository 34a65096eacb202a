"""The progress line: drawn in place on a terminal from the start, one line per run in a log."""

from __future__ import annotations

import io

from safe_local.evaluation.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_shows_the_line_before_the_first_run_finishes():
    stream = _Terminal()
    progress = Progress(4, 1, stream)
    assert stream.getvalue() == "\r\x1b[K1/4 [######..................] 0:00 elapsed, ETA –  running"
    progress.advance("gsm8k 1 unite: right (18)")
    progress.finish()
    drawn = stream.getvalue().split("\r\x1b[K")
    assert drawn[-1].startswith("2/4 [############............] ") and drawn[-1].endswith("  gsm8k 1 unite: right (18)\n")


def test_a_log_gets_one_line_per_finished_run_and_nothing_before():
    stream = io.StringIO()
    progress = Progress(2, 0, stream)
    assert stream.getvalue() == ""
    progress.advance("a")
    progress.advance("b")
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["1/2", "2/2"] and lines[1].endswith("ETA 0:00  b")

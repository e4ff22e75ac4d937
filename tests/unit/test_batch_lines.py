"""How batch cuts its input into lines, without Ray: at "\\n" only, one line at a time."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from raybank.cli.batch import MAX_LINE_BYTES, read_lines, split_words
from raybank.domain.errors import InvalidInput

# Any text without "\n": form feeds, lone "\r", "\x85", "\u2028" and the rest included.
LINE = st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)),
               max_size=40)


@given(st.lists(LINE, max_size=8))
def test_only_newlines_end_lines(lines: list[str]) -> None:
    data = "".join(f"{line}\n" for line in lines).encode()
    expected = [line.removesuffix("\r") for line in lines]
    assert list(read_lines(io.BytesIO(data))) == expected


@given(LINE, LINE)
def test_a_comment_hides_the_rest_of_its_line_and_nothing_after_it(comment: str,
                                                                    after: str) -> None:
    words = [split_words(line) for line in read_lines(io.BytesIO(
        f"# {comment}\ndeposit a 1\n".encode()))]
    assert words == [[], ["deposit", "a", "1"]]


def test_a_form_feed_or_a_lone_cr_inside_a_comment_starts_no_line() -> None:
    data = b"# pay\x0cwithdraw a 50.00\n# x\rwithdraw a 1\n# y\xc2\x85withdraw a 2\r\n"
    assert [split_words(line) for line in read_lines(io.BytesIO(data))] == [[], [], []]


def test_a_last_line_without_newline_still_counts() -> None:
    assert list(read_lines(io.BytesIO(b"balance a\r\nbalance b"))) == ["balance a",
                                                                      "balance b"]


def test_undecodable_and_overlong_lines_are_errors_of_their_own_line() -> None:
    data = b"balance a\n\xff\n" + b"x" * (MAX_LINE_BYTES + 5) + b"\nbalance b\n"
    lines = list(read_lines(io.BytesIO(data)))
    assert lines[0] == "balance a" and lines[3] == "balance b" and len(lines) == 4
    assert all(isinstance(line, InvalidInput) and line.code == "invalid-batch-line"
               for line in lines[1:3])


def test_lines_are_read_one_at_a_time() -> None:
    # read_lines is lazy: the first line is available before the rest is read.
    class Trickle(io.RawIOBase):
        def __init__(self) -> None:
            self.reads = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # one line per read, like a pipe
            self.reads += 1
            data = b"balance a\n" if self.reads < 1000 else b""
            buffer[:len(data)] = data
            return len(data)

    raw = Trickle()
    lines = read_lines(io.BufferedReader(raw))
    assert next(lines) == "balance a" and raw.reads < 10

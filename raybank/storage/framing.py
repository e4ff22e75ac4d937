"""Checksummed records: one JSON object a line, behind its CRC-32, followed by zeroed space.

A line is ``<crc32 as 8 hex digits> <json>\\n``; records never contain a zero byte. A file
of records always ends in zeroed, preallocated space (at least one zero byte), so a file
cut anywhere inside its records is seen as truncated instead of read as a shorter history.

Appends write the whole line and sync before the change is acknowledged, so the only
legitimate damage is a final line cut short by a crash (no newline before the zeros): that
"torn tail" was never acknowledged and is dropped. Any other bad line is corruption,
including a complete final line whose checksum fails and a final record that is whole but
for its newline (a flipped byte, not a torn write): raybank never guesses which
acknowledged record bit rot may have eaten.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Any, NoReturn

from raybank.domain.errors import StorageCorrupt, StorageError

_CHECKSUM = re.compile(rb"[0-9a-f]{8}")


def frame(record: dict[str, Any]) -> bytes:
    payload = json.dumps(record, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return b"%08x " % zlib.crc32(payload) + payload + b"\n"


def checksum(line: bytes) -> int:
    """The CRC-32 a framed line carries (the one a snapshot names its record by)."""
    return int(line[:8], 16)


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a value raybank writes")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)  # one, not one per record


def _corrupt(path: Path, position: int, why: str) -> StorageError:
    return StorageCorrupt(f"{path} is corrupt at byte {position}: {why}")


def payload_of(line: bytes, path: Path, position: int) -> bytes:
    """The JSON of one line (without its newline), its frame and checksum checked, not yet
    decoded: what an index scan needs of every line (decoding costs more than the rest)."""
    if len(line) < 10 or line[8:9] != b" ":
        raise _corrupt(path, position, "not a framed record")
    if not _CHECKSUM.fullmatch(line[:8]):
        raise _corrupt(path, position, "bad checksum field")
    payload = line[9:]
    if zlib.crc32(payload) != checksum(line):
        raise _corrupt(path, position, "checksum mismatch")
    return payload


def unframe(line: bytes, path: Path, position: int) -> dict[str, Any]:
    """Check and decode one line (without its newline); StorageError names file and byte."""
    def corrupt(why: str) -> StorageError:
        return _corrupt(path, position, why)

    payload = payload_of(line, path, position)
    try:
        record = _DECODER.decode(payload.decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError is one too
        raise corrupt("record is not JSON") from error
    if not isinstance(record, dict):
        raise corrupt("record is not an object")
    return record


def _is_record(line: bytes, path: Path) -> bool:
    try:
        unframe(line, path, 0)
    except StorageError:
        return False
    return True


def check_not_truncated(data: bytes, path: Path) -> None:
    """Refuse a file of records that does not end in zeroed space: it was cut short."""
    if data.endswith(b"\0"):
        return
    hint = ""
    if data.count(b"\n") == 1 and data.endswith(b"\n") and _is_record(data[:-1], path):
        hint = ("; if an older raybank wrote it (it holds one record and no zeroed space, as "
                "older versions left a new account), append one zero byte to it: see "
                "docs/storage.md")
    raise StorageCorrupt(f"{path} is truncated: it does not end in zeroed space{hint}")


def record_ending_at(data: bytes, end: int, path: Path) -> tuple[dict[str, Any], int]:
    """The record whose line ends just before byte ``end``, and its checksum.

    ValueError if no whole record ends there (the caller says what expected one).
    """
    if not 0 < end <= len(data) or data[end - 1:end] != b"\n":
        raise ValueError(f"no record ends at byte {end} of {len(data)}")
    start = data.rfind(b"\n", 0, end - 1) + 1
    try:
        return unframe(data[start:end - 1], path, start), checksum(data[start:end - 1])
    except StorageError as error:
        raise ValueError(str(error)) from error


def read_records(data: bytes, path: Path, start: int = 0
                 ) -> tuple[list[dict[str, Any]], int, bool]:
    """Decode the records from byte ``start``: (records, end of the last good one, torn?)."""
    if start > len(data):
        raise StorageCorrupt(f"{path} is shorter ({len(data)} bytes) than its snapshot says "
                             f"({start} bytes)")
    spans, position = line_spans(data, start)
    records = [unframe(data[begin:newline], path, begin) for begin, newline in spans]
    return records, position, torn_tail(data, position, path)


def line_spans(data: bytes, start: int = 0) -> tuple[list[tuple[int, int]], int]:
    """The whole lines from byte ``start`` as (start, newline) spans, and where they stop:
    at the zeroed space, or at a line that runs into it or the end (at most a torn tail,
    which ``torn_tail`` judges). Records hold no zero byte, so the first zero after
    ``start`` ends them all: it is looked for once, not once a line."""
    stop = data.find(b"\0", start)
    if stop == -1:
        stop = len(data)
    spans = []
    position = start
    while position < stop:
        newline = data.find(b"\n", position, stop)
        if newline == -1:
            break
        spans.append((position, newline))
        position = newline + 1
    return spans, position


def torn_tail(data: bytes, position: int, path: Path) -> bool:
    """Whether the bytes after the last whole record at ``position`` are a torn write (to
    drop) rather than nothing; StorageCorrupt if they are damage to acknowledged records."""
    rest = data[position:]
    if b"\n" in rest.rstrip(b"\0"):
        # A complete line after the stopping point means records were lost in the middle.
        raise StorageCorrupt(f"{path} is corrupt at byte {position}: damaged record")
    fragment = rest.split(b"\0", 1)[0]
    if fragment and (_is_record(fragment, path) or _is_record(fragment[:-1], path)):
        # A torn write stops short of the newline; a whole record without it is damage.
        raise StorageCorrupt(f"{path} is corrupt at byte {position}: the last record lost its "
                             "newline")
    return bool(rest.strip(b"\0"))

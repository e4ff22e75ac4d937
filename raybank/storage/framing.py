"""Checksummed records: one JSON object a line, behind its CRC-32.

A line is ``<crc32 as 8 hex digits> <json>\\n``. Appends write the whole line and fsync
before the change is acknowledged, so the only legitimate damage is a final line cut short
by a crash (no newline): that "torn tail" was never acknowledged and is dropped. Any other
bad line, including a complete final line whose checksum fails, is reported as corruption:
raybank never guesses which acknowledged record bit rot may have eaten.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

from raybank.domain.errors import StorageError


def frame(record: dict[str, Any]) -> bytes:
    payload = json.dumps(record, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return b"%08x " % zlib.crc32(payload) + payload + b"\n"


def unframe(line: bytes, path: Path, position: int) -> dict[str, Any]:
    """Check and decode one line (without its newline); StorageError names file and byte."""
    def corrupt(why: str) -> StorageError:
        return StorageError(f"{path} is corrupt at byte {position}: {why}", "storage-corrupt")

    if len(line) < 10 or line[8:9] != b" ":
        raise corrupt("not a framed record")
    try:
        expected = int(line[:8], 16)
    except ValueError as error:
        raise corrupt("bad checksum field") from error
    payload = line[9:]
    if zlib.crc32(payload) != expected:
        raise corrupt("checksum mismatch")
    try:
        record = json.loads(payload)
    except ValueError as error:
        raise corrupt("record is not JSON") from error
    if not isinstance(record, dict):
        raise corrupt("record is not an object")
    return record


def read_records(data: bytes, path: Path, start: int = 0) -> tuple[list[dict[str, Any]], int, bool]:
    """Decode the records from byte ``start``: (records, end of the last good one, torn?)."""
    if start > len(data):
        raise StorageError(f"{path} is shorter ({len(data)} bytes) than its snapshot says "
                           f"({start} bytes)", "storage-corrupt")
    records = []
    position = start
    while position < len(data) and data[position] != 0:
        newline = data.find(b"\n", position)
        zero = data.find(b"\0", position)
        if newline == -1 or (zero != -1 and zero < newline):
            break  # the line runs into the end or the zeros: at most a torn tail, see below
        records.append(unframe(data[position:newline], path, position))
        position = newline + 1
    rest = data[position:]
    if b"\n" in rest.rstrip(b"\0"):
        # A complete line after the stopping point means records were lost in the middle.
        raise StorageError(f"{path} is corrupt at byte {position}: damaged record",
                           "storage-corrupt")
    return records, position, bool(rest.strip(b"\0"))

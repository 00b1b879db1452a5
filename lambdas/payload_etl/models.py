"""Typed values the payload-ETL passes between its layers: object references in, lake chunks and counts out."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """One object version named by an S3 event notification (key already URL-decoded, ETag without quotes)."""

    bucket: str
    key: str
    etag: str
    size: int
    #: The notification's `eventTime` in epoch seconds (when S3 stored the object), if it had a valid one.
    arrival_epoch: int | None = None


@dataclass(frozen=True, slots=True)
class ObjectBody:
    """An object version being read: its stored size and its bytes, in pieces (read once)."""

    size: int
    chunks: Iterator[bytes]


@dataclass(frozen=True, slots=True)
class LakeChunk:
    """One lake file's rows (`core.lake`): at `key` in `bucket`, the columns in file order, each with its Glue type.

    Values are plain Python: `timestamp` columns hold epoch milliseconds (UTC), the others their value or None.
    """

    bucket: str
    key: str
    columns: Mapping[str, Sequence[Any]]
    glue_types: Mapping[str, str]
    rows: int


@dataclass(frozen=True, slots=True)
class LakeOutput:
    """Where an object's accepted records go besides the payload table: `feature_types` are the predictions table's
    feature columns (column name -> Glue type), `write` writes (or overwrites) one file."""

    feature_types: Mapping[str, str]
    write: Callable[[LakeChunk], None]


class ObjectStatus(StrEnum):
    """What happened to one object."""

    LOADED = "loaded"
    ALREADY_LOADED = "already_loaded"  # the ledger says this version was loaded before: nothing written
    SKIPPED = "skipped"  # not ours to load (outside payloads/ and labels/) or gone/superseded before we read it


@dataclass(frozen=True, slots=True)
class ObjectResult:
    """Counts for one object; `records` counts non-blank lines."""

    bucket: str
    key: str
    etag: str
    status: ObjectStatus
    records: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    blank_lines: int = 0
    write_calls: int = 0
    lake_files: int = 0
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class InvocationResult:
    """What one invocation did, object by object, with totals."""

    objects: tuple[ObjectResult, ...]
    test_event: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (the handler's return value)."""
        return {
            "test_event": self.test_event,
            "objects": [asdict(result) for result in self.objects],
            "loaded": sum(result.loaded for result in self.objects),
            "duplicates": sum(result.duplicates for result in self.objects),
            "quarantined": sum(result.quarantined for result in self.objects),
            "skipped_objects": sum(result.status is not ObjectStatus.LOADED for result in self.objects),
        }

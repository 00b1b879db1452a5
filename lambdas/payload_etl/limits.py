"""The payload-ETL's limits, derived from one number: the function's memory size (MB).

The Lambda runtime sets `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` to the memory infra gives the function
(`infra/payload_etl.py`); the handler reads it once, at cold start. Where it is absent (the emulator, the demo, the
tests) the ETL assumes `DEFAULT_MEMORY_MB`, what infra sets. Changing the function's memory moves every limit
with it (but for the lake chunks' budget, the same at every size: see below); nothing here
is set beside it.

The budget. `RUNTIME_RESERVE_MB` is what the interpreter, boto3, the AWS SDK for pandas layer (awswrangler, pandas,
pyarrow: about 110 MB more than boto3 alone) and the clients take before any object is read (about 190 MB measured
locally; the Lambda runtime adds its own). `LAKE_CHUNK_MB` is one lake file being built and written (`LakeRows`: at
most `LAKE_CHUNK_BYTES` of rows by their estimated memory, 32 MiB, which take up to about 85 MB at their peak as
Python values, Arrow columns and a Parquet file measured locally for long strings, 35-65 MB for numbers). The rest,
the *working memory* W, is shared out:

- the object: at most W / 2.5 decompressed bytes (`max_object_bytes`). What grows with an object's size is the
  set of its request ids (first wins within an object): about 100 bytes a record, at most 1.2 bytes per byte
  for the smallest records a contract accepts (a label is ~80 bytes), so at most half of W;
- the alerting aggregates (`extract.ObjectAggregates`): one per 5-minute bucket the object's records touch, a few
  KB each, at most `MAX_LAKE_DAYS` days of buckets;
- the quarantine object: W / 64 of entries in full, then counts per reason only;
- reading: pieces of W / 1024 (64 KiB to 1 MiB) at a time. A piece of tiny lines is a list of small strings
  several times its size, so a piece stays small.

Work is bounded too, so that an object ends within the function's timeout instead of in a retry loop: at most
`max_object_bytes`, at most `LINES_PER_MB` lines per MB of memory (Lambda gives CPU in proportion to memory, a
full vCPU at 1,769 MB; a line costs about 8 us of a full core with its lake row and file, twice what it did without
the lake, a refused one somewhat less, so that is under 90 seconds of the 300-second timeout at any memory size), and
at most `MAX_LAKE_DAYS` UTC days of records (each open day is a lake file to write whenever the open files are
written). An object over the first two is quarantined as a whole, before anything of it is written; past the last,
the records that would start another day are quarantined.

What the first two cost: an object that may pass one is read twice. One stored larger than `max_object_bytes` is
refused unread; a plain object of at most `max_object_lines` bytes cannot have more lines than that, so it is read
once. Every other one is screened first (`extract.needs_screening`, `extract.screen_object`: read to its end or to
the first limit it passes, counting bytes and newlines, no parsing) and then, within the limits, read again to be
loaded: every gzip object (its size decompressed is unknown until it is read; it is decompressed twice), and a
plain object larger than `max_object_lines` bytes (4.6 MB at 768 MB). That is a second GetObject and the object's
bytes transferred twice; the screening pass costs a small fraction of the parsing pass's CPU (gzip: the
decompression once more). It is what refusing an object before any of it is written takes without holding it:
the alternative, loading while counting, would leave a partial load behind an object refused halfway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.settings import PAYLOAD_ETL_MEMORY_MB, InvalidSettingError

#: Set by the Lambda runtime: the function's memory in MB.
MEMORY_SIZE_VARIABLE = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
#: What infra gives the function (one number in core); assumed where the runtime's variable is absent (local runs).
DEFAULT_MEMORY_MB = PAYLOAD_ETL_MEMORY_MB
#: The interpreter, boto3, the AWS SDK for pandas layer (awswrangler, pandas, pyarrow) and the clients, before any
#: object is read.
RUNTIME_RESERVE_MB = 224
#: The lake's chunk at its largest: its rows as Python values, then as Arrow columns, a pandas frame and a Parquet
#: file while it is written (`LAKE_CHUNK_ROWS`, `LAKE_CHUNK_BYTES`).
LAKE_CHUNK_MB = 128
#: The least working memory the shares below make sense with.
MIN_WORKING_MB = 48
#: The smallest memory the ETL runs in.
MIN_MEMORY_MB = RUNTIME_RESERVE_MB + LAKE_CHUNK_MB + MIN_WORKING_MB
#: Lines an object may have per MB of the function's memory (the CPU Lambda gives grows with memory).
LINES_PER_MB = 6_000
#: The smallest and largest piece read (or decompressed) at a time.
MIN_READ_BYTES = 64 * 1024
MAX_READ_BYTES = 1024 * 1024
#: The room one full quarantine entry may take (a raw line of up to 8 Ki characters and its reasons).
QUARANTINE_ENTRY_BYTES = 16 * 1024
_MIB = 1024 * 1024
#: Rows of one lake file, and the estimated memory of the rows of an object's open lake files before all of them are
#: written (`extract.LakeRows`): the same at every memory size, so that a retry writes the same files.
LAKE_CHUNK_ROWS = 100_000
LAKE_CHUNK_BYTES = 32 * _MIB
#: UTC days an object's records may span (one lake file each, written at every flush).
MAX_LAKE_DAYS = 32


@dataclass(frozen=True, slots=True)
class EtlLimits:
    """Every per-object limit of the ETL, from the function's memory (see the module docstring)."""

    memory_mb: int
    #: An object that is (or decompresses to) more bytes is quarantined as a whole.
    max_object_bytes: int
    #: An object with more lines is quarantined as a whole.
    max_object_lines: int
    #: Bytes read from S3, and decompressed, at a time.
    read_bytes: int
    #: Quarantine entries listed in full; later ones are only counted, by reason.
    max_quarantine_entries: int
    #: Bytes of the quarantine entries listed in full.
    max_quarantine_bytes: int
    #: Rows of one lake file; estimated memory the open lake files' rows may hold before all are written (both
    #: `LAKE_CHUNK_*` at every memory size: file keys must not depend on the memory).
    lake_chunk_rows: int = LAKE_CHUNK_ROWS
    lake_chunk_bytes: int = LAKE_CHUNK_BYTES
    #: Valid records of a UTC day past an object's first this many days are quarantined.
    max_lake_days: int = MAX_LAKE_DAYS

    @classmethod
    def for_memory(cls, memory_mb: int) -> EtlLimits:
        """The limits of a function with `memory_mb` of memory (at least `MIN_MEMORY_MB`)."""
        if memory_mb < MIN_MEMORY_MB:
            raise ValueError(f"the payload-ETL needs at least {MIN_MEMORY_MB} MB of memory, got {memory_mb}")
        working = (memory_mb - RUNTIME_RESERVE_MB - LAKE_CHUNK_MB) * _MIB
        quarantine_bytes = working // 64
        return cls(
            memory_mb=memory_mb,
            max_object_bytes=working * 2 // 5,
            max_object_lines=memory_mb * LINES_PER_MB,
            read_bytes=min(max(working // 1024, MIN_READ_BYTES), MAX_READ_BYTES),
            max_quarantine_entries=quarantine_bytes // QUARANTINE_ENTRY_BYTES,
            max_quarantine_bytes=quarantine_bytes,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> EtlLimits:
        """The limits for the memory the Lambda runtime announces (`DEFAULT_MEMORY_MB` where it does not)."""
        value = environ.get(MEMORY_SIZE_VARIABLE, "")
        if not value:
            return cls.for_memory(DEFAULT_MEMORY_MB)
        if not value.isdigit() or int(value) < MIN_MEMORY_MB:
            raise InvalidSettingError(f"{MEMORY_SIZE_VARIABLE} must be an integer >= {MIN_MEMORY_MB}, got {value!r}")
        return cls.for_memory(int(value))


#: The limits where nothing says otherwise (`DEFAULT_MEMORY_MB`).
DEFAULT_LIMITS = EtlLimits.for_memory(DEFAULT_MEMORY_MB)

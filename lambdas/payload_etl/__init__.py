"""The payload-ETL Lambda: S3 JSON Lines objects (payloads and labels) -> the payload lake (Parquet, `core.lake`;
written by `lake`, the one module that uses the AWS SDK for pandas layer) and the DynamoDB payload table (the
alerting window).

Entry point `lambdas.payload_etl.handler` (configured as `lambdas.payload_etl.handler`). Layers:
`entry` (handler, cold start) -> `logic` (one object, pure orchestration) -> `extract` (pure parsing, validation
and item and lake-row building, the hot path) and the adapters (`adapters.S3ObjectStore`, `core.payload_store`,
`lake.S3Lake`).

Storage decisions (item layout: `core.tables`):
- The valid records of an object are stored verbatim (unknown keys included) in segments: one per kind and UTC
  hour of their timestamps (predictions: `timestamp`, labels: `observed_at`), indexed by time on
  `by_time`, with `expires_at` = newest record + retention. A client that logs in batches costs one item per
  batch-hour, not one per record.
- A label is stored on its own and joined to its prediction at read time by `request_id`
  (`PayloadStore.labelled_window`): it may arrive before its prediction and is never lost; a later label for the
  same request replaces the earlier one.
- Idempotency: deterministic segment keys (bucket, key, ETag, hour, chunk), plus an object ledger item
  (`OBJECT#<bucket>/<key>`, `<etag>`) written after a successful load and checked first, so a redelivered object
  writes nothing at all. Within one object a repeated `request_id` is loaded once (first wins) and counted as a
  duplicate.
- Bad records go to `quarantine/<source key>.<etag>.errors.jsonl` (`core.layout.quarantine_object_key`, valid
  whatever the key's length) with their reasons, line numbers and raw text (bounded); the rest of the object still
  loads. The object's first line is its summary (`core.quarantine`): every refused record counted, by reason and
  by non-finite feature, including those past the listing caps.
- Memory and work per object are bounded, whatever the object: it is streamed (never held whole, decompressed or
  not), its segments are written as they fill, and one that is too large, too long in lines, a gzip bomb or a
  corrupt gzip stream is quarantined as a whole with its reason, before anything of it is written. Every limit
  comes from the function's memory (`limits`, read once at cold start from `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
"""

from __future__ import annotations

from lambdas.payload_etl.entry import handler, reset_cold_start

__all__ = ["handler", "reset_cold_start"]

"""The payload-ETL Lambda: S3 JSON Lines objects (payloads, as Firehose delivers them, and labels) -> the payload
lake (Parquet, `core.lake`; written by `lake`, the one module that uses the AWS SDK for pandas layer) and the
alerting aggregates in the DynamoDB payload table (`core.aggregates`).

Entry point `lambdas.payload_etl.handler` (configured as `lambdas.payload_etl.handler`). Layers:
`entry` (handler, cold start) -> `logic` (one object, pure orchestration) -> `extract` (pure parsing, validation,
lake rows and aggregates, the hot path) and the adapters (`adapters.S3ObjectStore`, `adapters.S3Baselines`,
`core.payload_store`, `lake.S3Lake`).

Storage decisions:
- Records live in the lake only: one Parquet file per object, UTC day and chunk (`extract.LakeRows`). The jobs
  read windows and training sets there; a label is joined to its prediction at read time (the latest wins).
- The alerting Lambda reads aggregates, not records: per object and 5-minute bucket of the records' timestamps,
  the counts, score moments, latency histogram and per-feature counts the catastrophic checks need, each record
  judged against its own model version's `baseline.json` (read from the model bucket once per container), and the
  object's refused payload records counted in its arrival's bucket. One item per object and bucket, so the write
  rate follows the objects (Firehose: one per buffer interval), never the predictions.
- Idempotency: deterministic keys (lake files and aggregates from the bucket, key and ETag), plus an object ledger
  item (`OBJECT#<bucket>/<key>`, `<etag>`) written after a successful load and checked first, so a redelivered
  object writes nothing at all. Within one object a repeated `request_id` is loaded once (first wins) and counted as
  a duplicate.
- Bad records go to `quarantine/<source key>.<etag>.errors.jsonl` (`core.layout.quarantine_object_key`, valid
  whatever the key's length) with their reasons, line numbers and raw text (bounded); the rest of the object still
  loads. The object's first line is its summary (`core.quarantine`): every refused record counted, by reason and
  by non-finite feature, including those past the listing caps.
- Memory and work per object are bounded, whatever the object: it is streamed (never held whole, decompressed or
  not), its lake files are written as they fill, and one that is too large, too long in lines, a gzip bomb or a
  corrupt gzip stream is quarantined as a whole with its reason, before anything of it is written. Every limit
  comes from the function's memory (`limits`, read once at cold start from `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
"""

from __future__ import annotations

from lambdas.payload_etl.entry import handler, reset_cold_start

__all__ = ["handler", "reset_cold_start"]

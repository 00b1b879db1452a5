"""The payload-ETL Lambda: S3 JSON Lines objects (payloads and labels) -> the DynamoDB payload table.

Entry point `lambdas.payload_etl.handler` (configured as `lambdas.payload_etl.handler`). Layers:
`entry` (handler, cold start) -> `logic` (one object, pure orchestration) -> `extract` (pure parsing, validation
and item building, the hot path) and the adapters (`adapters.S3ObjectStore`, `autoretrain.payload_store`).

Storage decisions:
- A prediction is one item `pk=REQ#<model>#<request_id>`, `sk=PREDICTION`, indexed by time on `by_time`
  (`gsi1pk=<model>#<UTC day>`, `gsi1sk=<timestamp>#<request_id>`), with `expires_at` = timestamp + retention.
- A label is its own item under the same `pk` with `sk=LABEL` (TTL from `observed_at`). It may arrive before its
  prediction: it is stored and joined at read time (`PayloadStore.labelled_window`), never lost, and a
  redelivered payload never overwrites it. A later label for the same request replaces the earlier one.
- Each item keeps its source line verbatim in `record` (unknown keys included); typed attributes are canonical.
- Idempotency: deterministic item keys, plus an object ledger item (`OBJECT#<bucket>/<key>`, `<etag>`) written
  after a successful load and checked first, so a redelivered object writes nothing at all. Within one object a
  repeated `request_id` is loaded once (first wins) and counted as a duplicate.
- Bad records go to `quarantine/<source key>.<etag>.errors.jsonl` with their reasons, line numbers and raw text
  (bounded); the rest of the object still loads.
"""

from __future__ import annotations

from lambdas.payload_etl.entry import handler, reset_cold_start

__all__ = ["handler", "reset_cold_start"]

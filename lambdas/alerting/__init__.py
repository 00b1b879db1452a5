"""The alerting Lambda: every few minutes, catastrophic signals on the recent window -> SNS and `AlertRaised`.

Entry point `lambdas.alerting.handler`, invoked by EventBridge Scheduler with
`{"scheduled_time": "<aws.scheduler.scheduled-time>"}`. Layers: `entry` (handler, cold start) -> `logic` (one run,
the alert state machine) -> `signals` (one pass over the window, one check per signal; pure) and `stats` (exact
bands; pure), `messages` (the words; pure), and the adapters (`adapters`, `core.payload_store`,
`core.registry`, `core.events`). Standard library and boto3 only: the zip ships no numpy.
"""

from __future__ import annotations

from lambdas.alerting.entry import handler, reset_cold_start

__all__ = ["handler", "reset_cold_start"]

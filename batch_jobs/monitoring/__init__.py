"""The drift-check job's logic: windows from the payload table, the trigger policy and its state, the outputs.

`pipeline.run_drift_check` runs one check through the typed `ports` (satisfied by `adapters`, `state` and the
shared adapters in `core`);
`policy` decides when a check requests a retrain; `outputs` builds the result, report, metrics and event details;
`window` turns stored predictions into the drift suite's inputs. The entry point is `batch_jobs.drift_check`.
"""

"""The retrain job's pipeline (`pipeline.run_retrain`) and its parts: assemble the training data (`frames`), check
its quality (`quality`), pick the training window (`window`), fit the challenger from scratch or incrementally from
the champion (`fitting`), the registry records (`lineage`) and the files a release carries (`release_files`).

The pipeline reaches the world only through the Protocols of `ports`; `adapters` holds the S3 adapters that
satisfy two of them. Everything else is pure (no boto3, no environment): `batch_jobs.retrain` wires the adapters
and runs the pipeline.
"""

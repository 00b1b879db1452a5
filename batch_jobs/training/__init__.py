"""The retrain job's pure pipeline: assemble the training data, check its quality, pick the training window,
fit the challenger (from scratch or incrementally from the champion), and the S3 adapters the job uses.

Everything here except `adapters` is pure (no boto3, no environment): the job (`batch_jobs.retrain`) reads,
calls these in order, and writes.
"""

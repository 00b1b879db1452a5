"""Batch jobs: the drift check and the retrain job, over a small statistics library."""

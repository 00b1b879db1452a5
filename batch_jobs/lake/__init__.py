"""The payload lake as the jobs see it (`core.lake` is its contract): the queries (`queries`), the engines that run
them (`engine`: Athena, DuckDB), the windows the drift check and the retrain read (`windows`), the catalog's
feature columns (`catalog`) and the compaction of small files (`compaction`)."""

"""Storage code: explicit Parquet schemas, atomic shard writes with done-markers, DuckDB catalog."""

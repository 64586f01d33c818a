"""The DuckDB event log: schema migrations, sessions and every SQL statement."""

"""The run ledger's contract suite, run against SQLite and PostgreSQL."""

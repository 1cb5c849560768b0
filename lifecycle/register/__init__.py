"""The register: the SQLite store that owns all SQL (store, outbox, migrations), the instance
directory and its files."""

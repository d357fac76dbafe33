"""Durable state behind every promise alertflow makes, on SQLite or PostgreSQL.

Owns: the schema (tables.py) and its migrations (schema.py, migrations/, and
legacy.py for databases made before them), the store and its reads
(database.py), the writes that must land together in one transaction (tx.py),
and the page log that claims each page once (pages.py).
May import: the vocabulary only. Everything above (pipeline, api, cli, worker,
flows) reaches the database through here.
"""

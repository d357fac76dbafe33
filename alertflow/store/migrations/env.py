"""Alembic's environment for alertflow: run on the connection alertflow hands over, never on a URL of its own.

Why: alertflow runs Alembic programmatically (alertflow/store/schema.py) on
a connection that already holds the schema lock and an open transaction, so
an upgrade, the stamp of a database made before migrations and the checks
after them land together or not at all. That connection arrives in
``config.attributes["connection"]``; the ``alembic`` command line, which
would open its own, is not used.

Revisions are rendered in batch mode (``render_as_batch``): SQLite alters
little in place, so Alembic copies a table, alters the copy and swaps it;
on PostgreSQL the same revision runs plain ALTERs. ``render_item`` spells
what tables.py means the same on both databases when autogenerate drafts a
revision (``alertflow db revision``): ``UTCDateTime`` as the DDL type it is,
so a revision never imports tables.py (which changes) and replays the same
years later; JSON with its JSONB variant; ``false()`` as ``sa.false()``
rather than the ``0`` it compiles to on SQLite (PostgreSQL refuses ``0`` for
a boolean).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy.sql.elements import False_, True_

from alertflow.store.tables import UTCDateTime, metadata


def render_item(kind: str, item: Any, autogen_context: Any) -> str | bool:
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(item, sa.JSON) and "postgresql" in getattr(item, "_variant_mapping", {}):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    if kind == "server_default" and isinstance(getattr(item, "arg", None), True_ | False_):
        return "sa.true()" if isinstance(item.arg, True_) else "sa.false()"
    return False  # Alembic's own rendering


def run() -> None:
    options: dict[str, Any] = {"target_metadata": metadata, "render_as_batch": True, "render_item": render_item}
    if context.is_offline_mode():  # --sql: the statements as text, for reading
        context.configure(url=context.config.attributes["url"], literal_binds=True, **options)
    else:
        connection = context.config.attributes.get("connection")
        if connection is None:
            raise RuntimeError("alertflow's migrations run through `alertflow db upgrade` (alertflow/store/schema.py), with its connection")
        context.configure(connection=connection, **options)
    with context.begin_transaction():  # inside alertflow's transaction this begins nothing
        context.run_migrations()


run()

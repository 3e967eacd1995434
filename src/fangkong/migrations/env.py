"""Alembic environment: the URL comes from the caller's config (see
``fangkong.migrate``), batch mode on SQLite so ALTERs work there.

Batch mode rebuilds a SQLite table (copy, drop, rename); with foreign keys
enforced, dropping a table that other rows point at fails. So on SQLite the
migrations run with foreign keys off and are checked before the commit, as
SQLite's own procedure for such changes says
(https://www.sqlite.org/lang_altertable.html, section 7)."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

import fangkong.models  # noqa: F401  (registers every table)
from fangkong.db import Base, make_engine


def _set_sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    """Outside any transaction (inside one SQLite ignores it)."""
    raw: Any = connection.connection.driver_connection
    raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    if sqlite:
        _set_sqlite_foreign_keys(connection, on=False)
    try:
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if dangling:
                    raise RuntimeError(f"the migration left dangling references: {dangling[:10]}")
    finally:
        if sqlite:
            _set_sqlite_foreign_keys(connection, on=True)


config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "fangkong.migrate sets sqlalchemy.url"

connectable = config.attributes.get("connection")
if connectable is None:
    engine = make_engine(url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()
else:
    _run(connectable)

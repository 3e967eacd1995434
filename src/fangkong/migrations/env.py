"""Alembic environment: the URL comes from the caller's config (see
``fangkong.migrate``), batch mode on SQLite so ALTERs work there."""

from __future__ import annotations

from alembic import context

import fangkong.models  # noqa: F401  (registers every table)
from fangkong.db import Base, make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "fangkong.migrate sets sqlalchemy.url"

connectable = config.attributes.get("connection")
if connectable is None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
else:
    context.configure(
        connection=connectable,
        target_metadata=Base.metadata,
        render_as_batch=connectable.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()

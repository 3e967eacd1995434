"""The schema comes only from the migrations, and they match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select

import fangkong.models  # noqa: F401  (registers every table)
from fangkong.db import Base
from fangkong.regions.models import Region


def test_the_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_the_migrations_load_the_region_catalog(engine: Engine) -> None:
    with engine.connect() as connection:
        villages = connection.scalar(
            select(func.count()).select_from(Region).where(Region.level == "village")
        )
        langfang = connection.scalar(select(Region.name).where(Region.code == "131000"))
    assert villages is not None
    assert villages > 1000
    assert langfang == "廊坊市"

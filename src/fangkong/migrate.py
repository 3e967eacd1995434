"""Running Alembic from code: ``fangkong db upgrade`` and the tests use this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def make_revision(url: str, message: str) -> None:
    """Developer helper: autogenerate a revision against an upgraded database."""
    command.revision(alembic_config(url), message=message, autogenerate=True)

"""Settings from the environment (``FANGKONG_*``), validated once.

``get_settings()`` builds the one settings object; tests call
``get_settings.cache_clear()`` after changing the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_FILE = Path("var/fangkong.sqlite3")
DEVELOPMENT_SECRET = "development-only-secret-change-me"


class Settings(BaseSettings):
    """Every knob an operator can turn; see docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="FANGKONG_", extra="ignore")

    environment: str = Field("development", description="development, test or production")
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty means the embedded SQLite file"
    )
    secret_key: str = Field(DEVELOPMENT_SECRET, description="signs web sessions")
    timezone: str = Field("Asia/Shanghai", description="the command centre's time zone")
    session_max_age_seconds: int = Field(12 * 3600, ge=300)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone
        return value

    @model_validator(mode="after")
    def _secret_outside_development(self) -> Settings:
        if self.environment == "production" and (
            self.secret_key == DEVELOPMENT_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError(
                "FANGKONG_SECRET_KEY must be set to a random value of at least 32 characters "
                "in production"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{DEFAULT_DATABASE_FILE}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

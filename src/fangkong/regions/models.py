"""The administrative tree and the risk-zone overlay."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fangkong.db import Base, UtcDateTime, code_type


class Region(Base):
    """A province, city, county (GB/T 2260), township (9-digit) or
    village/community (12-digit statistical code). ``prefix`` is the
    significant prefix every descendant's code starts with."""

    __tablename__ = "region"

    code: Mapped[str] = mapped_column(code_type(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("region.code"), nullable=True, index=True
    )
    prefix: Mapped[str] = mapped_column(code_type(12), unique=True)
    synthetic: Mapped[bool] = mapped_column(default=False)


class RiskZone(Base):
    """A sealed, controlled or precaution zone laid over regions and/or
    addresses for a period. ``region_code`` is the smallest region that
    contains the whole zone and scopes who may see or change it."""

    __tablename__ = "risk_zone"
    __table_args__ = (
        CheckConstraint("level IN ('sealed', 'controlled', 'precaution')", name="level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    lifting_criteria: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RiskZoneArea(Base):
    """One piece of a zone: a whole region, or one address."""

    __tablename__ = "risk_zone_area"
    __table_args__ = (
        CheckConstraint("(region_code IS NULL) <> (address_id IS NULL)", name="region_or_address"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("risk_zone.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(
        ForeignKey("region.code"), nullable=True, index=True
    )
    address_id: Mapped[int | None] = mapped_column(
        ForeignKey("address.id"), nullable=True, index=True
    )

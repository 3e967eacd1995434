"""The population registry: addresses, households, persons, duplicate
suspects, and the record of every import with its rejected rows."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from fangkong.db import Base, UtcDateTime, code_type

BigId = BigInteger().with_variant(Integer, "sqlite")


class Address(Base):
    """A dwelling: community code + building + unit + room ('' when the
    part does not exist, as in a village house)."""

    __tablename__ = "address"
    # Unique indexes rather than constraints: a first load drops and rebuilds
    # them, which SQLite allows only for indexes (people/bulk.py).
    __table_args__ = (
        Index("uq_address_region_code", "region_code", "building", "unit", "room", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    building: Mapped[str] = mapped_column(code_type(50), default="")
    unit: Mapped[str] = mapped_column(code_type(50), default="")
    room: Mapped[str] = mapped_column(code_type(50), default="")


class Household(Base):
    """户: the people registered together. ``code`` is the household number
    from the source file (unique within its community), or the address key
    when the file has none."""

    __tablename__ = "household"
    __table_args__ = (Index("uq_household_region_code", "region_code", "code", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # a household number (<= 100) or the address key (12 + 3 + 3 x 50)
    code: Mapped[str] = mapped_column(code_type(200))
    region_code: Mapped[str] = mapped_column(code_type(12))
    address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id"), nullable=True)


class Person(Base):
    """One row per human being, however many sources mention them."""

    __tablename__ = "person"
    __table_args__ = (
        CheckConstraint("sex IN ('M', 'F')", name="sex"),
        Index("uq_person_id_number", "id_number", unique=True),
        # Name first, for the registry search by name or surname; then the
        # community, so a match by name in a community reads only its own
        # persons (by name alone, a common name's hundreds of namesakes
        # across the city were each read from the table: benchmarks/RESULTS.md).
        Index("ix_person_name_region_code", "name", "region_code"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    id_type: Mapped[str] = mapped_column(String(32))
    id_number: Mapped[str] = mapped_column(code_type(32))
    name: Mapped[str] = mapped_column(code_type(100))
    sex: Mapped[str | None] = mapped_column(String(1), nullable=True)
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    phone: Mapped[str | None] = mapped_column(code_type(20), nullable=True, index=True)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id"), nullable=True)
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("household.id"), nullable=True, index=True
    )
    relation: Mapped[str] = mapped_column(String(16), default="")
    resident: Mapped[bool] = mapped_column(Boolean, default=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True)
    import_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batch.id"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DuplicateSuspect(Base):
    """Two persons who may be one (same name and phone, different identity
    numbers, ...). Never merged automatically: a person decides."""

    __tablename__ = "duplicate_suspect"
    __table_args__ = (UniqueConstraint("person_a_id", "person_b_id", "reason"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_a_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    person_b_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    resolution_note: Mapped[str] = mapped_column(Text, default="")
    found_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)

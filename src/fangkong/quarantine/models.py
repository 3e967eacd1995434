"""Quarantine and designated hospitals: facilities with their rooms (beds,
for hospitals), the inspections of their zone layout (三区两通道), the staff
each facility manager belongs to, stays (a person in a room, at home, or in
a hospital bed), the tests scheduled during a stay, daily checks, and the
cross-infection alerts with the neighbours they name.

Scoping: a facility, its rooms and the stays in it carry the facility's
``region_code``; a home stay carries the person's community. A facility
manager is further limited to the facilities listed for them in
``facility_staff`` (:mod:`fangkong.quarantine.scope`).

A person has at most one stay in force (``ended_at`` empty): a transfer
moves the stay to another room (``stay_move`` keeps the history) so its test
schedule and planned end go with the person.

Volumes are tens of thousands of rooms and stays, so every table keeps its
foreign keys but one: ``scheduled_test.stay_id`` (see there).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fangkong.db import Base, UtcDateTime, code_type

BigId = BigInteger().with_variant(Integer, "sqlite")

FACILITY_KINDS = ("quarantine_site", "designated_hospital", "makeshift_hospital")
ROOM_KINDS = ("room", "bed")
ROOM_STATUSES = ("ready", "occupied", "cleaning", "out_of_service")
WARD_LEVELS = ("", "mild", "moderate", "severe", "critical")
STAY_KINDS = ("centralized", "home_quarantine", "home_monitoring", "hospital")
STAY_END_REASONS = (
    "",
    "released",  # the release criteria were met
    "became_case",  # tested positive: a case, to hospital
    "discharged",  # left the hospital
    "moved_home",  # the measure changed to home quarantine or monitoring
    "not_a_contact",  # the risk record was released by the epidemiologists
)
ALERT_KINDS = ("cross_infection",)
NEIGHBOUR_RELATIONS = ("adjacent_room", "same_floor", "same_team")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Facility(Base):
    """A centralized quarantine site or a designated (or makeshift) hospital.
    It may receive persons only while its latest zone inspection passed."""

    __tablename__ = "facility"
    __table_args__ = (CheckConstraint(_in("kind", FACILITY_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FacilityInspection(Base):
    """One inspection of a facility's layout against the checklist in
    :data:`fangkong.quarantine.rules.ZONE_CHECKLIST`: every item with its
    answer; ``passed`` only when every item holds."""

    __tablename__ = "facility_inspection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    region_code: Mapped[str] = mapped_column(code_type(12))
    inspected_on: Mapped[date] = mapped_column(Date)
    inspector: Mapped[str] = mapped_column(String(100))
    items: Mapped[dict[str, bool]] = mapped_column(JSON)
    passed: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FacilityStaff(Base):
    """A user who works for a facility; a facility manager sees only the
    facilities listed here for them."""

    __tablename__ = "facility_staff"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), primary_key=True)


class Room(Base):
    """A room of a quarantine site, or a bed of a hospital ward. ``position``
    orders the rooms along a floor's corridor: rooms whose positions differ by
    one are adjacent. ``care_team`` is the staff team that serves the room,
    when recorded (a cross-infection alert names the rooms of the same team)."""

    __tablename__ = "room"
    __table_args__ = (
        UniqueConstraint("facility_id", "building", "number"),
        UniqueConstraint("id", "facility_id"),  # the target of a stay's (room, facility) key
        CheckConstraint(_in("kind", ROOM_KINDS), name="kind"),
        CheckConstraint(_in("status", ROOM_STATUSES), name="status"),
        CheckConstraint(_in("ward_level", WARD_LEVELS), name="ward_level"),
        CheckConstraint("capacity >= 1", name="capacity"),
        Index("ix_room_facility_floor", "facility_id", "building", "floor", "position"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"))
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    kind: Mapped[str] = mapped_column(String(8), default="room")
    building: Mapped[str] = mapped_column(String(40), default="")
    floor: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(40))
    ward: Mapped[str] = mapped_column(String(40), default="")
    ward_level: Mapped[str] = mapped_column(String(12), default="")
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    private_bathroom: Mapped[bool] = mapped_column(Boolean, default=True)
    care_team: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(16), default="ready")
    status_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Stay(Base):
    """A person under a measure: in a room of a quarantine site
    (``centralized``), at home (``home_quarantine``, ``home_monitoring``) or
    in a hospital bed (``hospital``, with the case and its severity).
    ``exposure_key`` names the exposure event that brought the person here
    (persons of different events never share a room); ``companion_of`` the
    stay whose room this one shares under a policy exception (a child with a
    parent, a carer with the person they care for)."""

    __tablename__ = "stay"
    __table_args__ = (
        CheckConstraint(_in("kind", STAY_KINDS), name="kind"),
        CheckConstraint(_in("end_reason", STAY_END_REASONS), name="end_reason"),
        CheckConstraint(_in("severity", WARD_LEVELS), name="severity"),
        CheckConstraint("(ended_at IS NULL) = (end_reason = '')", name="ended"),
        Index(
            "uq_stay_person_in_force",
            "person_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        Index("ix_stay_facility_in_force", "facility_id", "ended_at"),
        Index(
            "ix_stay_case_id",
            "case_id",
            postgresql_where=text("case_id IS NOT NULL"),
            sqlite_where=text("case_id IS NOT NULL"),
        ),
        # one key for the room and its facility: a stay is in a room of the
        # facility it names (home stays name neither and are not checked);
        # one check a row instead of two in a 20,000-person placement
        ForeignKeyConstraint(["room_id", "facility_id"], ["room.id", "room.facility_id"]),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    facility_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    room_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    risk_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("risk_person.id"), nullable=True, index=True
    )
    case_id: Mapped[int | None] = mapped_column(ForeignKey("tracing_case.id"), nullable=True)
    household_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    exposure_key: Mapped[str] = mapped_column(String(80), default="")
    companion_of: Mapped[int | None] = mapped_column(ForeignKey("stay.id"), nullable=True)
    severity: Mapped[str] = mapped_column(String(12), default="")
    last_exposure_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    planned_end_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    end_reason: Mapped[str] = mapped_column(String(16), default="")
    placed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)


class StayMove(Base):
    """A transfer: the stay left one room (or home) for another."""

    __tablename__ = "stay_move"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stay_id: Mapped[int] = mapped_column(ForeignKey("stay.id"), index=True)
    from_room_id: Mapped[int | None] = mapped_column(ForeignKey("room.id"), nullable=True)
    to_room_id: Mapped[int | None] = mapped_column(ForeignKey("room.id"), nullable=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    moved_at: Mapped[datetime] = mapped_column(UtcDateTime)
    moved_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)


class ScheduledTest(Base):
    """A test the stay's schedule asks for on day ``day`` (due ``due_on``);
    ``tube_id`` is the single tube taken for it, its result is the tube's."""

    __tablename__ = "scheduled_test"
    __table_args__ = (
        UniqueConstraint("stay_id", "day"),
        Index(  # empty when written: a batch writes thousands, none with a tube
            "ix_scheduled_test_tube_id",
            "tube_id",
            postgresql_where=text("tube_id IS NOT NULL"),
            sqlite_where=text("tube_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # no foreign key: a batch writes four or five per stay, and checking each
    # against the stays just written cost a fifth of a 20,000-person
    # placement (benchmarks/RESULTS.md); the tests check for orphans instead
    stay_id: Mapped[int] = mapped_column(BigId)
    day: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    tube_id: Mapped[int | None] = mapped_column(ForeignKey("tube.id"), nullable=True)
    sampled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CheckIn(Base):
    """A daily check of a stay: the community worker at a home under
    quarantine (door seal intact), or the facility's health check."""

    __tablename__ = "check_in"
    __table_args__ = (UniqueConstraint("stay_id", "on_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stay_id: Mapped[int] = mapped_column(ForeignKey("stay.id"))
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    on_date: Mapped[date] = mapped_column(Date)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    checked_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    seal_intact: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    symptoms: Mapped[bool] = mapped_column(Boolean, default=False)
    temperature: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class QuarantineAlert(Base):
    """A positive test during a stay after a negative one in the same
    facility (交叉感染预警), with the neighbours it names."""

    __tablename__ = "quarantine_alert"
    __table_args__ = (
        CheckConstraint(_in("kind", ALERT_KINDS), name="kind"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        UniqueConstraint("stay_id", "tube_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="cross_infection")
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    stay_id: Mapped[int] = mapped_column(ForeignKey("stay.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    tube_id: Mapped[int] = mapped_column(ForeignKey("tube.id"))
    sampled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(8), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class AlertNeighbour(Base):
    """A person an alert names as exposed, with how, and the risk-person
    record that puts them under their own measure."""

    __tablename__ = "alert_neighbour"
    __table_args__ = (CheckConstraint(_in("relation", NEIGHBOUR_RELATIONS), name="relation"),)

    alert_id: Mapped[int] = mapped_column(ForeignKey("quarantine_alert.id"), primary_key=True)
    stay_id: Mapped[int] = mapped_column(ForeignKey("stay.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    relation: Mapped[str] = mapped_column(String(16))
    risk_person_id: Mapped[int | None] = mapped_column(ForeignKey("risk_person.id"), nullable=True)

"""Mass testing: rounds and their areas, sampling sites, tubes and their
members, lab results, exemptions, and the follow-up of positive pools
(temporary control, re-sampling tasks, positive persons).

Every row carries the ``region_code`` that scopes it: a round's and a
site's region, a tube's site (or its first member's community), a member's,
exemption's, control's and task's person's community.

The three high-volume tables — ``tube`` (a city round: 500,000 rows),
``tube_member`` (5 million) and ``lab_result`` — declare no foreign keys: a
per-row referential check made a COPY of sampling records four times slower
(benchmarks/RESULTS.md), and their references are set only by the sampling
and result services, which resolve every person, round and tube in the same
transaction, while nothing they point at is ever deleted (DESIGN.md: no hard
deletes). ``tests/testing`` checks for orphans after every kind of write.
Low-volume tables keep their foreign keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
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

TUBE_STATES = ("open", "collected", "received", "tested")
RESULTS = ("negative", "positive", "invalid")


class Round(Base):
    """A mass-testing round (全员核酸检测): everyone due in its areas sampled
    within the window."""

    __tablename__ = "testing_round"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    pool_size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RoundArea(Base):
    """A region a round covers, with its sampling policy (swabs per tube; 1
    is single tubes). ``prefix`` is the region's significant prefix: persons
    whose community code starts with it are due."""

    __tablename__ = "round_area"
    __table_args__ = (UniqueConstraint("round_id", "region_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("testing_round.id"), index=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    prefix: Mapped[str] = mapped_column(code_type(12))
    pool_size: Mapped[int] = mapped_column(Integer)


class SamplingSite(Base):
    __tablename__ = "sampling_site"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    staff: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Tube(Base):
    """A sampling tube: ``pool_size`` swabs at most (1 = single tube).
    ``purpose``: a round's tube, a follow-up re-sample of a positive pool's
    member (in that round), or a single tube taken during a quarantine stay
    (``stay``: no round). ``result`` is the first result received; a different later one sets
    ``conflict`` for a person to settle, and both stay in ``lab_result``."""

    __tablename__ = "tube"
    __table_args__ = (
        CheckConstraint(f"state IN {TUBE_STATES}", name="state"),
        CheckConstraint(f"result IS NULL OR result IN {RESULTS}", name="result"),
        CheckConstraint("purpose IN ('round', 'followup', 'stay')", name="purpose"),
        Index("uq_tube_barcode", "barcode", unique=True),
        Index("ix_tube_round_state", "round_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    barcode: Mapped[str] = mapped_column(code_type(40))
    round_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: a stay's test
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    site_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pool_size: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(16), default="round")
    state: Mapped[str] = mapped_column(String(16), default="open")
    client_uid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    collected_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    tested_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    result: Mapped[str | None] = mapped_column(String(16), nullable=True)
    result_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    lab: Mapped[str] = mapped_column(String(100), default="")
    conflict: Mapped[bool] = mapped_column(Boolean, default=False)


class TubeMember(Base):
    """One person's swab in a tube. A person is sampled once per round,
    except for follow-up re-sampling (``task_id`` set). Keyed by tube and
    person: the primary key serves "who is in this tube", the partial unique
    index "was this person sampled in this round"."""

    __tablename__ = "tube_member"
    __table_args__ = (
        Index(
            "uq_tube_member_person_round",
            "person_id",
            "round_id",
            unique=True,
            postgresql_where=text("task_id IS NULL"),
            sqlite_where=text("task_id IS NULL"),
        ),
        Index(
            "ix_tube_member_task_id",
            "task_id",
            postgresql_where=text("task_id IS NOT NULL"),
            sqlite_where=text("task_id IS NOT NULL"),
        ),
    )

    tube_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    person_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    round_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    region_code: Mapped[str] = mapped_column(code_type(12))
    sampled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    task_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class LabResult(Base):
    """Every result a lab sent for a tube, kept even when it conflicts.
    ``fingerprint`` makes a re-sent identical result a no-op."""

    __tablename__ = "lab_result"
    __table_args__ = (
        CheckConstraint(f"result IN {RESULTS}", name="result"),
        UniqueConstraint("tube_id", "fingerprint"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tube_id: Mapped[int] = mapped_column(BigInteger)
    result: Mapped[str] = mapped_column(String(16))
    ct_orf1ab: Mapped[float | None] = mapped_column(Float, nullable=True)
    ct_n: Mapped[float | None] = mapped_column(Float, nullable=True)
    lab: Mapped[str] = mapped_column(String(100))
    tested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    fingerprint: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(code_type(12))


class Exemption(Base):
    """A person who leaves a round's denominator, with the reason (infants
    below the policy age are exempt by rule, without a row)."""

    __tablename__ = "testing_exemption"
    __table_args__ = (
        UniqueConstraint("round_id", "person_id"),
        CheckConstraint("reason IN ('away', 'hospital', 'infant', 'other')", name="reason"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("testing_round.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TemporaryControl(Base):
    """临时管控: a person held in place (at home, not to move) from a positive
    pool's result until their single-tube re-test is negative."""

    __tablename__ = "temporary_control"
    __table_args__ = (UniqueConstraint("person_id", "source_tube_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("testing_round.id"))
    source_tube_id: Mapped[int] = mapped_column(ForeignKey("tube.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    end_reason: Mapped[str] = mapped_column(String(32), default="")


class FollowUpTask(Base):
    """Re-sample one member of a positive pool into a single tube, assigned to
    the member's community, by ``due_at``. ``done_at`` is when the single
    tube was sampled, ``resolved_at`` when its result came back."""

    __tablename__ = "follow_up_task"
    __table_args__ = (
        UniqueConstraint("person_id", "source_tube_id"),
        CheckConstraint("state IN ('open', 'done', 'cancelled')", name="state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="resample")
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("testing_round.id"))
    source_tube_id: Mapped[int] = mapped_column(ForeignKey("tube.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(String(16), default="open")
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)


class PositivePerson(Base):
    """An individual positive result: a person the tracing capability turns
    into a case. ``via_pool_tube_id`` is the pooled tube that led to it."""

    __tablename__ = "positive_person"
    __table_args__ = (UniqueConstraint("person_id", "tube_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    round_id: Mapped[int | None] = mapped_column(
        ForeignKey("testing_round.id"), nullable=True, index=True
    )  # None: a test during a quarantine stay
    tube_id: Mapped[int] = mapped_column(ForeignKey("tube.id"))
    via_pool_tube_id: Mapped[int | None] = mapped_column(ForeignKey("tube.id"), nullable=True)
    lab_result_id: Mapped[int] = mapped_column(ForeignKey("lab_result.id"))
    found_at: Mapped[datetime] = mapped_column(UtcDateTime)

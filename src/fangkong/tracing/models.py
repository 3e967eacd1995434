"""Cases and contact tracing: cases, investigations and the places of their
itineraries, exposures between persons (the exposure graph), risk persons
and the sources that reported them (four channels plus investigations),
incoming records whose person could not be decided, and cross-region
requests (协查函) with their items.

A person is one row of the registry however many channels find them: a risk
person points at a person (one risk person per person), and each report of
that person is a :class:`RiskSource`. Every row carries the ``region_code``
that scopes it: the person's community for cases and risk persons, the
case's for investigations and places, the requesting or receiving side's
for requests (see each class).

Volumes stay in the hundreds of thousands (a wave's risk persons), so every
table keeps its foreign keys, but for the risk-person and risk-source
references written in bulk (see :class:`RiskPerson` and
:class:`RiskSource`): like the testing capability's tube tables, they do
without, and the tests check for orphans.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
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

CLASSIFICATIONS = ("confirmed", "asymptomatic")
SEVERITIES = ("", "mild", "moderate", "severe", "critical")
DETECTION_ROUTES = (
    "mass_testing",  # a single tube of a round, or a community test site
    "pool_followup",  # the single-tube re-sampling of a positive pool's member
    "quarantine_screening",  # a test during centralized or home quarantine
    "contact_screening",  # a test of a known risk person not (yet) under a measure
    "fever_clinic",
    "hospital",  # other hospital reports
    "self_report",
    "other",
)
CONTROL_BASES = ("", "quarantine", "sealed_zone", "controlled_zone", "known_contact")
CATEGORIES = ("close", "secondary", "companion", "general")
CHANNELS = ("self_report", "screening", "request", "bigdata", "investigation")
MEASURES = ("centralized_quarantine", "home_quarantine", "health_monitoring", "none")
RISK_STATUSES = ("to_find", "found", "under_measure", "outside_region", "released")
RELEASE_REASONS = (
    "",
    "completed",  # the measure ran its course
    "not_a_contact",  # a computed category no longer holds (e.g. the close contact was released)
    "became_case",
    "error",  # reported by mistake
)
SETTINGS = ("household", "work", "school", "transport", "social", "medical", "other")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Case(Base):
    """A confirmed case or an asymptomatic infection. ``controlled`` is
    derived, never typed: whether the person was already under control
    (quarantine, a sealed or controlled zone, a known contact) when the
    sample that found them was taken — ``control_basis`` says which. It is
    what separates controlled cases from community cases (社会面)."""

    __tablename__ = "tracing_case"
    __table_args__ = (
        UniqueConstraint("person_id"),  # one case per person in an outbreak
        CheckConstraint(_in("classification", CLASSIFICATIONS), name="classification"),
        CheckConstraint(_in("severity", SEVERITIES), name="severity"),
        CheckConstraint(_in("detection_route", DETECTION_ROUTES), name="detection_route"),
        CheckConstraint(_in("control_basis", CONTROL_BASES), name="control_basis"),
        CheckConstraint("controlled = (control_basis <> '')", name="controlled_has_basis"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    classification: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16), default="")
    detection_route: Mapped[str] = mapped_column(String(32))
    sampled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    result_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    onset_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    confirmed_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    controlled: Mapped[bool] = mapped_column(Boolean)
    control_basis: Mapped[str] = mapped_column(String(32), default="")
    positive_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("positive_person.id"), nullable=True, unique=True
    )
    reported_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)


class Investigation(Base):
    """流调: the epidemiological investigation of one case."""

    __tablename__ = "investigation"
    __table_args__ = (CheckConstraint("status IN ('open', 'closed')", name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("tracing_case.id"), unique=True)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    summary: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)


class Place(Base):
    """One stop of a case's itinerary: where and when. Places make the
    risk-place list a command centre publishes (``published``)."""

    __tablename__ = "place"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    investigation_id: Mapped[int] = mapped_column(ForeignKey("investigation.id"), index=True)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    arrived_at: Mapped[datetime] = mapped_column(UtcDateTime)
    left_at: Mapped[datetime] = mapped_column(UtcDateTime)
    published: Mapped[bool] = mapped_column(Boolean, default=False)


class Exposure(Base):
    """An edge of the exposure graph: ``source_person_id`` may have
    infected ``person_id`` (a case and their close contact, or a close
    contact and theirs). ``transmission`` marks an edge an investigation
    established as infector → infectee."""

    __tablename__ = "exposure"
    __table_args__ = (
        UniqueConstraint("source_person_id", "person_id"),
        CheckConstraint("source_person_id <> person_id", name="not_self"),
        CheckConstraint(_in("setting", SETTINGS), name="setting"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)  # the exposed person's
    setting: Mapped[str] = mapped_column(String(16))
    last_exposure_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    transmission: Mapped[bool] = mapped_column(Boolean, default=False)
    investigation_id: Mapped[int | None] = mapped_column(
        ForeignKey("investigation.id"), nullable=True, index=True
    )
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RiskPerson(Base):
    """A person who must be brought under a measure (应隔尽隔): one row per
    person whatever the number of channels that reported them. The
    category is the most serious one reported or computed (``secondary``
    is computed from the exposure graph, never typed); the measure and the
    deadline follow from it by policy."""

    __tablename__ = "risk_person"
    __table_args__ = (
        UniqueConstraint("person_id"),
        CheckConstraint(_in("category", CATEGORIES), name="category"),
        CheckConstraint(_in("measure", MEASURES), name="measure"),
        CheckConstraint(_in("status", RISK_STATUSES), name="status"),
        CheckConstraint(_in("release_reason", RELEASE_REASONS), name="release_reason"),
        CheckConstraint("(status = 'released') = (released_at IS NOT NULL)", name="released_at"),
        Index("ix_risk_person_status_deadline", "status", "deadline_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign key: its check locks a person row for every row a bulk
    # write adds (an import, a first whole-graph refresh); with those of
    # RiskSource it cost a quarter of the first refresh (benchmarks/RESULTS.md,
    # "Tracing"). Every writer takes the person from the registry it read;
    # the tests check for orphans.
    person_id: Mapped[int] = mapped_column(BigId)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)
    category: Mapped[str] = mapped_column(String(16))
    measure: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="to_find")
    last_exposure_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    identified_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deadline_at: Mapped[datetime] = mapped_column(UtcDateTime)
    controlled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    release_reason: Mapped[str] = mapped_column(String(16), default="")
    # No foreign key either: its trigger fired for every row a bulk write
    # adds, null or not (0.3 s of a first whole-graph refresh's 217,000
    # records). Only assign_risk_persons sets it, with a user it checked (a
    # registry move clears it when that user cannot see the new community);
    # users are deactivated, never deleted; the tests check for orphans.
    assigned_to: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RiskSource(Base):
    """One report of a risk person: the channel, who or what sent it
    (``source``: a hotline, a community, the requesting jurisdiction, a
    big-data batch, a case's investigation), when, and the category the
    report gave. The same report sent twice is kept once (``fingerprint``)."""

    __tablename__ = "risk_source"
    __table_args__ = (
        UniqueConstraint("risk_person_id", "fingerprint"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("category", CATEGORIES), name="category"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign keys, as for RiskPerson.person_id (their checks lock the
    # record or batch of every row written); the tests check for orphans.
    # No index of its own on risk_person_id (the unique (risk_person_id,
    # fingerprint) key leads with it), none on region_code or
    # import_batch_id: nothing looks sources up by them (they are reached
    # through their risk person), and their upkeep was a quarter of writing
    # the sources of a first whole-graph refresh.
    risk_person_id: Mapped[int] = mapped_column(BigId)
    region_code: Mapped[str] = mapped_column(code_type(12))
    channel: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(16))
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    fingerprint: Mapped[str] = mapped_column(String(64))
    import_batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PendingMatch(Base):
    """An incoming record whose person could not be decided (a phone shared
    by several registered persons, a name that matches none of them):
    kept whole, with its candidates, for a person to resolve."""

    __tablename__ = "pending_match"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint("status IN ('open', 'resolved', 'dismissed')", name="status"),
        UniqueConstraint("fingerprint"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)  # the receiver's
    channel: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(200), default="")
    record: Mapped[dict[str, str]] = mapped_column(JSON)
    candidate_ids: Mapped[list[int]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    fingerprint: Mapped[str] = mapped_column(String(64))
    import_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batch.id"), nullable=True, index=True
    )
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True)


class SelfReport(Base):
    """群众自报: a resident's own report, sent from the public form without
    logging in: at a published risk place (``place_id``) or near a case
    (``note``), on a day. Staff triage it: accepted, it becomes a risk
    person's source (channel ``self_report``); or dismissed. The reporter's
    address is never stored, only a keyed hash of it for rate limiting."""

    __tablename__ = "self_report"
    __table_args__ = (
        UniqueConstraint("fingerprint"),
        CheckConstraint("status IN ('new', 'accepted', 'dismissed')", name="status"),
        CheckConstraint("place_id IS NOT NULL OR note <> ''", name="place_or_note"),
        Index("ix_self_report_client_submitted", "client_hash", "submitted_at"),
        Index("ix_self_report_phone_submitted", "phone", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_code: Mapped[str] = mapped_column(code_type(12), index=True)  # where they live
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(code_type(20))
    id_number: Mapped[str] = mapped_column(code_type(32), default="")
    place_id: Mapped[int | None] = mapped_column(ForeignKey("place.id"), nullable=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    exposed_on: Mapped[date] = mapped_column(Date)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    client_hash: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="new")
    triaged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    triaged_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    risk_person_id: Mapped[int | None] = mapped_column(ForeignKey("risk_person.id"), nullable=True)


class CrossRegionRequest(Base):
    """协查函: one jurisdiction asks another to find and control persons by a
    deadline. The sender sees it through ``from_region``, the receiver
    through ``to_region``; each sees only the persons of its own side."""

    __tablename__ = "cross_region_request"
    __table_args__ = (
        CheckConstraint("status IN ('sent', 'accepted', 'done', 'exported')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    from_region: Mapped[str] = mapped_column(code_type(12), index=True)
    to_region: Mapped[str] = mapped_column(code_type(12), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    deadline_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="sent")
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class RequestItem(Base):
    """One person of a request and the receiver's outcome for them."""

    __tablename__ = "request_item"
    __table_args__ = (
        CheckConstraint("outcome IN ('', 'controlled', 'not_found', 'not_ours')", name="outcome"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("cross_region_request.id"), index=True)
    id_number: Mapped[str] = mapped_column(code_type(32), default="")
    phone: Mapped[str] = mapped_column(code_type(20), default="")
    name: Mapped[str] = mapped_column(String(100), default="")
    category: Mapped[str] = mapped_column(String(16))
    last_exposure_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    risk_person_id: Mapped[int | None] = mapped_column(ForeignKey("risk_person.id"), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), default="")
    outcome_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    note: Mapped[str] = mapped_column(String(300), default="")

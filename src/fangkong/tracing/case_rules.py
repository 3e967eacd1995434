"""The rules of a case, pure (no I/O): was the person already under control
when the sample that found them was taken, by which route were they found,
which dates make sense, from when their contacts count, and how new cases
add up per day.

**Controlled at detection** (管控人员中发现 against 社会面) is derived, never
typed. The moment that counts is the time the sample that found the person
was taken — for a member of a positive pool, the pooled sample's time, not
the single-tube re-sample's: the temporary control a positive pool sets off
starts only after that pool's result, so it never makes its own finding a
controlled case. At that moment the person was under control on the first
of these bases that holds (the strictest first):

1. ``quarantine``: their risk-person record was under a quarantine measure
   (centralized or home quarantine), i.e. ``controlled_at`` <= the sample
   time and the record was not yet released (``released_at`` is empty or
   later than the sample);
2. ``sealed_zone``: a sealed zone in force at the sample time covered their
   community (a region prefix of it) or their address;
3. ``controlled_zone``: the same with a controlled zone (a precaution zone
   restricts no movement and does not count);
4. ``known_contact``: they were a known close or secondary contact — a
   report of that category had reached the system (``received_at``) by the
   sample time, their record had been opened by then (``identified_at``; a
   record reopened later does not count) and had not been released before.

Otherwise the case is a community case (社会面). Temporary control from an
earlier, unrelated positive pool is not a basis: it is not one of the
protocol's bases and lasts hours.

**Detection route**, derived where the data says it, in this order: a
positive found through a pool's follow-up is ``pool_followup``; a person
under quarantine at the sample time is ``quarantine_screening``; a known
risk person (any category, reported by the sample time, not released) is
``contact_screening``; any other positive of a mass-testing round is
``mass_testing``. A hand-entered (hospital) report keeps the route it gives
unless that route is a generic ``hospital`` or ``other`` and the person was
quarantined or a known risk person, which the data then names.

**Look-back window**: contacts count from ``close_contact_lookback_days``
before the earlier of the symptom onset and the positive sample (the
Protocol's "4 days before onset, or before sampling for an asymptomatic
infection"; taking the earlier of the two for a confirmed case found before
their symptoms never misses a contact), counted in whole local days from
00:00. A named contact whose last exposure is before the window is kept as
a general contact (一般接触者), not refused: the epidemiologist's finding is
not lost, and the measure follows the category.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

QUARANTINE_MEASURES = ("centralized_quarantine", "home_quarantine")
KNOWN_CONTACT_CATEGORIES = ("close", "secondary")
ZONE_BASES = {"sealed": "sealed_zone", "controlled": "controlled_zone"}
GENERIC_ROUTES = ("hospital", "other")
CONTROL_BASIS_LABELS = {
    "": ("社会面", "community"),
    "quarantine": ("隔离管控中", "in quarantine"),
    "sealed_zone": ("封控区内", "in a sealed zone"),
    "controlled_zone": ("管控区内", "in a controlled zone"),
    "known_contact": ("已知密接/次密接", "a known close or secondary contact"),
}


@dataclass(frozen=True)
class RiskSnapshot:
    """A person's risk-person record as it stands, with the time the first
    report of a close or secondary contact reached the system."""

    category: str
    measure: str
    identified_at: datetime
    controlled_at: datetime | None
    released_at: datetime | None
    contact_known_at: datetime | None  # earliest close/secondary report received

    def open_at(self, at: datetime) -> bool:
        """The record existed at ``at`` and was not released by then."""
        return self.identified_at <= at and (self.released_at is None or self.released_at > at)


@dataclass(frozen=True)
class DetectionFacts:
    """What the data says about the sample that found a case."""

    sampled_at: datetime  # the pooled sample's time for a pool follow-up
    via_pool: bool = False  # found by a positive pool's single-tube follow-up
    from_round: bool = False  # a positive of a mass-testing round
    risk: RiskSnapshot | None = None
    zone_level: str | None = None  # strictest sealed/controlled zone over the person then


def in_quarantine(risk: RiskSnapshot | None, at: datetime) -> bool:
    return (
        risk is not None
        and risk.measure in QUARANTINE_MEASURES
        and risk.controlled_at is not None
        and risk.controlled_at <= at
        and (risk.released_at is None or risk.released_at > at)
    )


def known_contact(risk: RiskSnapshot | None, at: datetime) -> bool:
    return (
        risk is not None
        and risk.contact_known_at is not None
        and risk.contact_known_at <= at
        and risk.open_at(at)
    )


def known_risk_person(risk: RiskSnapshot | None, at: datetime) -> bool:
    return risk is not None and risk.open_at(at)


def control_basis(facts: DetectionFacts) -> str:
    """The basis on which the person was under control when sampled, or ''
    for a community case (see the module docstring for the rule)."""
    at = facts.sampled_at
    if in_quarantine(facts.risk, at):
        return "quarantine"
    if facts.zone_level in ZONE_BASES:
        return ZONE_BASES[facts.zone_level]
    if known_contact(facts.risk, at):
        return "known_contact"
    return ""


def derive_detection_route(facts: DetectionFacts, reported: str | None = None) -> str:
    """How the case was found: derived from the data where it says so,
    else the reported route (``reported`` is None for a positive of the
    positive board)."""
    if facts.via_pool:
        return "pool_followup"
    if reported is not None and reported not in GENERIC_ROUTES:
        return reported
    if in_quarantine(facts.risk, facts.sampled_at):
        return "quarantine_screening"
    if known_risk_person(facts.risk, facts.sampled_at):
        return "contact_screening"
    if facts.from_round:
        return "mass_testing"
    return reported or "other"


def case_date_problem(
    *,
    classification: str,
    severity: str,
    sampled_at: datetime,
    result_at: datetime | None,
    confirmed_at: datetime,
    onset_date: date | None,
    now: datetime,
    today: date,
) -> tuple[str, str] | None:
    """The first thing wrong with a case's classification and dates, as
    ``(field, reason)``, or None."""
    if classification == "asymptomatic" and severity:
        return "severity", "an asymptomatic infection has no clinical severity"
    if classification == "asymptomatic" and onset_date is not None:
        return "onset_date", "an asymptomatic infection has no symptom onset; classify it confirmed"
    if sampled_at > now:
        return "sampled_at", "is in the future"
    if result_at is not None and result_at < sampled_at:
        return "result_at", "is before the sample was taken"
    if result_at is not None and result_at > now:
        return "result_at", "is in the future"
    if confirmed_at < sampled_at:
        return "confirmed_at", "is before the sample was taken"
    if confirmed_at > now:
        return "confirmed_at", "is in the future"
    if onset_date is not None and onset_date > today:
        return "onset_date", "is in the future"
    return None


def exposure_window_start(
    onset_date: date | None, sampled_at: datetime, lookback_days: int, zone: tzinfo
) -> datetime:
    """From when a case's contacts count: 00:00 local, ``lookback_days``
    before the earlier of the onset date and the sample's local date."""
    sampled_day = sampled_at.astimezone(zone).date()
    anchor = min(onset_date, sampled_day) if onset_date is not None else sampled_day
    return datetime.combine(anchor - timedelta(days=lookback_days), time(0), zone)


def contact_category(last_exposure_at: datetime, window_start: datetime) -> str:
    """A named contact inside the look-back window is a close contact; one
    whose last exposure came before it, a general contact."""
    return "close" if last_exposure_at >= window_start else "general"


@dataclass(frozen=True)
class DayCount:
    day: date
    controlled: int
    community: int

    @property
    def total(self) -> int:
        return self.controlled + self.community


def count_by_day(
    confirmations: Iterable[tuple[datetime, bool]], first: date, last: date, zone: tzinfo
) -> list[DayCount]:
    """New cases per local day from ``first`` to ``last`` (both included),
    split into controlled and community cases; days without a case count 0."""
    tally: Counter[tuple[date, bool]] = Counter(
        (moment.astimezone(zone).date(), controlled) for moment, controlled in confirmations
    )
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [DayCount(d, tally[(d, True)], tally[(d, False)]) for d in days]


def narrowest_prefix(region_prefix: str, jurisdiction: str) -> str | None:
    """The part of a region a user sees: the region itself inside their
    jurisdiction, their jurisdiction inside a larger region, or None when the
    two do not overlap."""
    if region_prefix.startswith(jurisdiction):
        return region_prefix
    if jurisdiction.startswith(region_prefix):
        return jurisdiction
    return None

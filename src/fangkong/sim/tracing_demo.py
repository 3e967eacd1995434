"""The tracing part of ``make demo``: a small outbreak in the demo county,
built through the real services so every page has something to show.

- a confirmed case found at a fever clinic (a community case), its
  investigation with an itinerary (a published risk place) and named
  contacts: its household and two colleagues (close contacts), and the
  household of one colleague (secondary contacts, computed by the graph);
- one close contact put into quarantine and found positive there (a
  controlled case), linked to the first as infectee: a cluster of two;
- risk-person lists from door-to-door screening, cross-region requests and
  the big-data push (synthetic, with duplicates across channels and dirty
  cells), imported by file;
- a cross-region request to the neighbouring county, and a resident's
  self-report about the risk place, waiting for staff.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Role
from fangkong.access.service import SYSTEM, Actor
from fangkong.config import get_settings
from fangkong.people.models import Person
from fangkong.sim.tracing import channel_records, registry_persons, write_channel_file
from fangkong.tracing import cases, contacts, investigations
from fangkong.tracing.control import set_risk_status
from fangkong.tracing.models import RiskPerson
from fangkong.tracing.requests import RequestPerson, send_request
from fangkong.tracing.risk_import import import_risk_persons
from fangkong.tracing.self_report import SelfReportIn, submit_self_report

CHANNEL_RECORDS = 2_000


def build_demo_tracing(
    session: Session, *, region: str, seed: int, folder: Path, echo: Callable[[str], None]
) -> None:
    persons = _households(session, region)
    if len(persons) < 4:
        echo("the demo county is too small for the tracing demo; skipped")
        return
    first_case, place_id, colleague = _first_case(session, persons)
    _case_in_quarantine(session, first_case, colleague)
    echo(
        f"cases: 2 (one community, one found in quarantine); risk persons: {_by_category(session)}"
    )
    _channel_lists(session, region, seed, folder, echo)
    _request_and_self_report(session, region, place_id, persons)


def _households(session: Session, region: str) -> list[list[Person]]:
    """The first few households of the county with at least two members."""
    stmt = (
        select(Person)
        .where(Person.region_code.startswith(region), Person.household_id.isnot(None))
        .order_by(Person.household_id, Person.id)
        .limit(200)
    )
    found: dict[int, list[Person]] = {}
    for person in session.scalars(stmt):
        assert person.household_id is not None
        found.setdefault(person.household_id, []).append(person)
    return [members for members in found.values() if len(members) >= 2][:6]


def _first_case(session: Session, households: list[list[Person]]) -> tuple[int, int, Person]:
    now = clock.now()
    index, *family = households[0]
    case = cases.record_case(
        session,
        SYSTEM,
        person_id=index.id,
        classification="confirmed",
        severity="mild",
        detection_route="fever_clinic",
        sampled_at=now - timedelta(hours=30),
        result_at=now - timedelta(hours=26),
        confirmed_at=now - timedelta(hours=24),
        onset_date=(now - timedelta(days=2)).astimezone(get_settings().zone).date(),
        reported_by="市人民医院发热门诊（演示）",
    )
    investigation = investigations.open_investigation(session, SYSTEM, case.id)
    place = investigations.add_place(
        session,
        SYSTEM,
        investigation.id,
        name="新华路农贸市场（演示）",
        region_code=index.region_code,
        address="新华路 18 号",
        arrived_at=now - timedelta(hours=50),
        left_at=now - timedelta(hours=49),
    )
    investigations.publish_places(session, SYSTEM, [place.id])
    exposed = now - timedelta(hours=28)
    for member in family:
        contacts.name_contact(
            session,
            SYSTEM,
            investigation.id,
            person_id=member.id,
            setting="household",
            last_exposure_at=exposed,
        )
    colleagues = [households[1][0], households[2][0]]
    for colleague in colleagues:
        contacts.name_contact(
            session,
            SYSTEM,
            investigation.id,
            person_id=colleague.id,
            setting="work",
            last_exposure_at=exposed,
        )
    for member in households[1][1:]:  # the first colleague's household
        contacts.name_contact_of_contact(
            session,
            SYSTEM,
            investigation.id,
            contact_person_id=colleagues[0].id,
            person_id=member.id,
            setting="household",
            last_exposure_at=exposed + timedelta(hours=2),
        )
    return case.id, place.id, colleagues[1]


def _case_in_quarantine(session: Session, first_case: int, colleague: Person) -> None:
    """The second colleague goes into quarantine and tests positive there
    (the sample is taken once they are under the measure)."""
    risk = session.scalars(select(RiskPerson).where(RiskPerson.person_id == colleague.id)).one()
    set_risk_status(session, SYSTEM, risk.id, "under_measure")
    now = clock.now()
    second = cases.record_case(
        session,
        SYSTEM,
        person_id=colleague.id,
        classification="asymptomatic",
        severity="",
        detection_route="hospital",
        sampled_at=now,  # the day-1 test in quarantine
        confirmed_at=now,
        reported_by="集中隔离点（演示）",
    )
    contacts.record_transmission(
        session, SYSTEM, infector_case_id=first_case, infectee_case_id=second.id, setting="work"
    )


def _by_category(session: Session) -> str:
    counts = session.execute(
        select(RiskPerson.category, func.count())
        .where(RiskPerson.status != "released")
        .group_by(RiskPerson.category)
        .order_by(RiskPerson.category)
    ).all()
    return ", ".join(f"{category} {n}" for category, n in counts)


def _channel_lists(
    session: Session, region: str, seed: int, folder: Path, echo: Callable[[str], None]
) -> None:
    people = registry_persons(session.connection(), region, every=20)
    reported_from = (clock.now() - timedelta(hours=18)).astimezone(get_settings().zone)
    lists, _ = channel_records(
        people,
        records=CHANNEL_RECORDS,
        seed=seed,
        reported_from=reported_from.replace(tzinfo=None),
        hours=12,
    )
    for channel in ("screening", "request", "bigdata"):
        path = folder / f"risk-{channel}.csv"
        write_channel_file(lists[channel], path, chinese_headers=channel == "screening")
        result = import_risk_persons(
            session, _county_epidemiologist(region), path.read_bytes(), path.name, channel=channel
        )
        echo(f"risk persons from {channel}: {result.summary}")


def _county_epidemiologist(region: str) -> Actor:
    """The county's epidemiologist uploads the lists and sends the request,
    so what waits for a person (pending matches) is the county's to see."""
    return Actor(user_id=None, username="demo", role=Role.EPIDEMIOLOGIST, jurisdiction=region)


def _request_and_self_report(
    session: Session, region: str, place_id: int, households: list[list[Person]]
) -> None:
    neighbour = region[:4] + ("03" if region[4:] != "03" else "04")
    send_request(
        session,
        _county_epidemiologist(region),
        to_region=neighbour,
        subject="病例 1 的同事（演示）",
        deadline_at=clock.now() + timedelta(hours=12),
        persons=[
            RequestPerson(phone="13900001111", name="孙演示", category="close"),
            RequestPerson(phone="13900002222", name="周演示", category="close"),
        ],
    )
    resident = households[3][0]
    submit_self_report(
        session,
        SelfReportIn(
            name=resident.name,
            phone=resident.phone or "13900003333",
            region_code=resident.region_code,
            exposed_on=clock.today_local() - timedelta(days=2),
            place_id=place_id,
            id_number=resident.id_number,
        ),
        "demo",
    )

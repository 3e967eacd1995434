"""Risk persons and their sources carry no foreign keys to the registry,
to each other, to import batches or to the user assigned (tracing/models.py:
their checks were a quarter of a first whole-graph refresh), so nothing in
the database refuses a dangling reference: these tests check that the
writers leave none — a channel's file imported, the whole-graph refresh,
the step around a release, an assignment — and that the check itself finds
one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import Actor
from fangkong.tracing.contacts import name_contact, name_contact_of_contact
from fangkong.tracing.control import assign_risk_persons
from fangkong.tracing.graph_service import (
    SecondaryRefresh,
    refresh_secondary_contacts,
    release_risk_person,
)
from fangkong.tracing.investigations import open_investigation
from fangkong.tracing.models import RiskPerson, RiskSource
from fangkong.tracing.risk_import import import_risk_persons
from tests.testing.conftest import ORPHANS, FrozenClock, Registry, csv_bytes, local
from tests.tracing.test_graph import edge, make_case

RISK_ORPHANS = {name: sql for name, sql in ORPHANS.items() if name.startswith("risk_")}
NONE = dict.fromkeys(RISK_ORPHANS, 0)


def orphans(session: Session) -> dict[str, int]:
    return {name: session.execute(text(sql)).scalar_one() for name, sql in RISK_ORPHANS.items()}


def test_imports_the_graph_and_releases_leave_no_orphan(
    session: Session,
    epidemiologist: Actor,
    county_commander: Actor,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    listed, named, exposed = registry.a1[1], registry.a1[2], registry.a2[0]
    hour_ago = local(clock.now() - timedelta(hours=1), "%Y-%m-%d %H:%M:%S")
    screened = csv_bytes(
        ["id_number", "phone", "name", "category", "source", "reported_at"],
        [[listed.id_number, "", listed.name, "close", "社区排查", hour_ago]],
    )
    import_risk_persons(session, epidemiologist, screened, "list.csv", channel="screening")
    investigation = open_investigation(
        session, epidemiologist, make_case(session, epidemiologist, registry.a1[0]).id
    )
    name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=named.id,
        setting="household",
        last_exposure_at=clock.now(),
    )
    name_contact_of_contact(
        session,
        epidemiologist,
        investigation.id,
        contact_person_id=named.id,
        person_id=exposed.id,
        setting="work",
        last_exposure_at=clock.now(),
    )
    for target in registry.b1[:3]:
        edge(session, listed, target, clock.now())
    session.commit()
    frozen.advance(hours=1)

    assert refresh_secondary_contacts(session, county_commander) == SecondaryRefresh(3, 0)
    risk = session.scalars(select(RiskPerson).where(RiskPerson.person_id == named.id)).one()
    release_risk_person(session, epidemiologist, risk.id, "error")
    assert county_commander.user_id is not None
    listed_risk = session.scalars(select(RiskPerson).where(RiskPerson.person_id == listed.id))
    assign_risk_persons(session, county_commander, [listed_risk.one().id], county_commander.user_id)

    batched = select(func.count()).where(RiskSource.import_batch_id.is_not(None))
    assert session.scalar(batched) == 1
    assert session.scalar(select(func.count()).select_from(RiskSource)) == 6
    assert orphans(session) == NONE


def test_the_check_finds_a_source_whose_risk_person_is_gone(
    session: Session, registry: Registry
) -> None:
    """Nothing refuses the row any more: the check must see it (inside a
    savepoint rolled back, so no other check trips on it)."""
    nested = session.begin_nested()
    session.add(
        RiskSource(
            risk_person_id=-1,
            region_code=registry.a1[0].region_code,
            channel="screening",
            source="社区排查",
            category="close",
            reported_at=clock.now(),
            fingerprint="0" * 64,
            received_at=clock.now(),
        )
    )
    session.flush()
    assert orphans(session) == {**NONE, "risk_source.risk_person_id": 1}
    nested.rollback()


def test_the_check_finds_an_assignment_to_a_user_who_does_not_exist(
    session: Session, registry: Registry
) -> None:
    nested = session.begin_nested()
    session.add(
        RiskPerson(
            person_id=registry.a1[0].id,
            region_code=registry.a1[0].region_code,
            category="close",
            measure="centralized_quarantine",
            status="to_find",
            identified_at=clock.now(),
            deadline_at=clock.now(),
            assigned_to=-1,
            updated_at=clock.now(),
        )
    )
    session.flush()
    assert orphans(session) == {**NONE, "risk_person.assigned_to": 1}
    nested.rollback()

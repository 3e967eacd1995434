"""The public self-report form: malformed reports are refused naming every
problem, a repeated report is kept once, floods from one client or about one
phone are stopped, and staff triage what was kept."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import Actor
from fangkong.errors import Conflict, NotFound
from fangkong.tracing.models import Case, Investigation, Place, RiskSource, SelfReport
from fangkong.tracing.self_report import (
    REPORTS_PER_CLIENT_PER_HOUR,
    ReportRefused,
    SelfReportIn,
    accept_self_report,
    dismiss_self_report,
    list_self_reports,
    published_places,
    submit_self_report,
)
from tests.testing.conftest import A1, GY, FrozenClock, Registry

MARKET = "新华路农贸市场"


@pytest.fixture
def market(session: Session, registry: Registry) -> Place:
    """A published risk place of a case's itinerary (yesterday morning)."""
    now = clock.now()
    case = Case(
        person_id=registry.a2[0].id,
        region_code=registry.a2[0].region_code,
        classification="confirmed",
        detection_route="fever_clinic",
        sampled_at=now,
        confirmed_at=now,
        controlled=False,
        created_at=now,
    )
    session.add(case)
    session.flush()
    investigation = Investigation(case_id=case.id, region_code=case.region_code, opened_at=now)
    session.add(investigation)
    session.flush()
    place = Place(
        investigation_id=investigation.id,
        region_code=A1,
        name=MARKET,
        arrived_at=now - timedelta(hours=26),
        left_at=now - timedelta(hours=25),
        published=True,
    )
    session.add(place)
    session.commit()
    return place


def report(place: Place | None = None, **change: object) -> SelfReportIn:
    values: dict[str, object] = {
        "name": "赵六",
        "phone": "13911112222",
        "region_code": A1,
        "exposed_on": clock.today_local() - timedelta(days=1),
        "place_id": place.id if place else None,
        "note": "" if place else "与确诊病例同乘 K1 路公交 (same bus as a case)",
    }
    values.update(change)
    return SelfReportIn(**values)  # type: ignore[arg-type]


def test_a_valid_report_is_kept_and_a_repeat_is_kept_once(session: Session, market: Place) -> None:
    first = submit_self_report(session, report(market), "10.0.0.1")
    again = submit_self_report(session, report(market, name=" 赵六 "), "10.0.0.2")
    assert not first.repeated
    assert again.repeated
    assert again.report_id == first.report_id
    assert session.scalar(select(func.count()).select_from(SelfReport)) == 1
    stored = session.get(SelfReport, first.report_id)
    assert stored is not None
    assert stored.phone == "+8613911112222"
    assert "10.0.0.1" not in stored.client_hash


def test_a_malformed_report_is_refused_naming_every_problem(
    session: Session, market: Place
) -> None:
    bad = report(
        None,
        name=" ",
        phone="12345",
        id_number="131002198506150011",
        region_code="131002001",
        note="",
        exposed_on=clock.today_local() + timedelta(days=1),
    )
    with pytest.raises(ReportRefused) as refused:
        submit_self_report(session, bad, "10.0.0.1")
    assert set(refused.value.problems) == {
        "name",
        "phone",
        "id_number",
        "region_code",
        "place",
        "exposed_on",
    }
    assert "手机号不正确" in refused.value.problems["phone"]
    old = report(market, exposed_on=date(2022, 2, 1))
    with pytest.raises(ReportRefused, match="14"):
        submit_self_report(session, old, "10.0.0.1")
    unpublished = report(None, place_id=market.id + 1000, note="")
    with pytest.raises(ReportRefused, match="published"):
        submit_self_report(session, unpublished, "10.0.0.1")
    assert session.scalar(select(func.count()).select_from(SelfReport)) == 0


def test_floods_from_one_client_and_about_one_phone_are_stopped(
    session: Session, market: Place
) -> None:
    for n in range(REPORTS_PER_CLIENT_PER_HOUR):
        submit_self_report(session, report(None, phone=f"1391111{n:04d}"), "10.0.0.9")
    with pytest.raises(ReportRefused) as refused:
        submit_self_report(session, report(None, phone="13922223333"), "10.0.0.9")
    assert list(refused.value.problems) == ["client"]
    for n in range(3):
        submit_self_report(session, report(None, note=f"接触 {n}"), f"10.1.0.{n}")
    with pytest.raises(ReportRefused) as refused:
        submit_self_report(session, report(None, note="接触 3"), "10.1.0.9")
    assert list(refused.value.problems) == ["phone"]


def test_staff_triage_reports_of_their_jurisdiction(
    session: Session,
    market: Place,
    registry: Registry,
    epidemiologist: Actor,
    other_epidemiologist: Actor,
) -> None:
    resident = registry.a1[0]
    kept = submit_self_report(
        session,
        report(market, name=resident.name, id_number=resident.id_number),
        "10.0.0.1",
    )
    other = submit_self_report(
        session, report(None, region_code=GY, phone="13800001111"), "10.0.0.2"
    )
    assert [r.id for r in list_self_reports(session, epidemiologist)] == [kept.report_id]
    with pytest.raises(NotFound):
        accept_self_report(session, other_epidemiologist, kept.report_id)
    risk_id = accept_self_report(session, epidemiologist, kept.report_id, "close")
    source = session.scalars(select(RiskSource).where(RiskSource.risk_person_id == risk_id)).one()
    assert (source.channel, source.category) == ("self_report", "close")
    assert MARKET in source.source
    with pytest.raises(Conflict, match="already accepted"):
        accept_self_report(session, epidemiologist, kept.report_id)
    dismiss_self_report(session, other_epidemiologist, other.report_id, "重复 duplicate")
    assert list_self_reports(session, other_epidemiologist, "dismissed")[0].id == other.report_id


def test_only_published_recent_places_are_offered(
    session: Session,
    market: Place,
    frozen: FrozenClock,
) -> None:
    assert [p.name for p in published_places(session)] == [MARKET]
    frozen.advance(days=15)
    assert published_places(session) == []


def test_a_reporter_the_matcher_cannot_decide_waits_as_a_pending_match(
    session: Session,
    market: Place,
    registry: Registry,
    epidemiologist: Actor,
    county_commander: Actor,
) -> None:
    from fangkong.people.service import update_person
    from fangkong.tracing.pending import list_pending_matches

    for person in registry.a1[:2]:  # one phone, two registered persons
        update_person(session, county_commander, person.id, phone="13955556666")
    kept = submit_self_report(
        session, report(market, name="陌生人", phone="13955556666"), "10.0.0.1"
    )
    assert accept_self_report(session, epidemiologist, kept.report_id, "close") is None
    stored = session.get(SelfReport, kept.report_id)
    assert stored is not None
    assert stored.status == "accepted"
    [waiting] = list_pending_matches(session, epidemiologist)
    assert (waiting.channel, waiting.record["category"]) == ("self_report", "close")
    assert {c.person_id for c in waiting.candidates} == {p.id for p in registry.a1[:2]}


def test_control_characters_are_refused(session: Session, market: Place) -> None:
    with pytest.raises(ReportRefused) as refused:
        submit_self_report(session, report(market, name="赵\x00六"), "10.0.0.1")
    assert list(refused.value.problems) == ["name"]

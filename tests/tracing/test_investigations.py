"""Investigations: the itinerary and the risk-place list it publishes; named
contacts become close-contact risk persons from the investigation channel
(general contacts before the look-back window); transmission links between
cases; a closed investigation takes nothing more. Runs on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.policy import get_policy
from fangkong.tracing.cases import record_case
from fangkong.tracing.contacts import investigation_contacts, name_contact, record_transmission
from fangkong.tracing.investigations import (
    add_place,
    close_investigation,
    list_places,
    open_investigation,
    publish_places,
    risk_places,
    withdraw_places,
)
from fangkong.tracing.models import Case, Exposure, Investigation, RiskPerson, RiskSource
from tests.testing.conftest import A1, A2, B1, GY, Registry, Resident

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# The clock stands at 14 March 2022, 10:00 in Langfang (02:00 UTC).


def make_case(
    session: Session,
    actor: Actor,
    who: Resident,
    *,
    onset: date | None = date(2022, 3, 13),
    sampled_at: datetime | None = None,
) -> Case:
    return record_case(
        session,
        actor,
        person_id=who.id,
        classification="confirmed" if onset else "asymptomatic",
        severity="mild" if onset else "",
        detection_route="fever_clinic",
        sampled_at=sampled_at or clock.now() - 6 * HOUR,
        confirmed_at=clock.now() - HOUR,
        onset_date=onset,
    )


@pytest.fixture
def investigation(session: Session, epidemiologist: Actor, registry: Registry) -> Investigation:
    """The investigation of a1[0], confirmed, symptoms since 13 March: close
    contacts count from 9 March 00:00 local."""
    case = make_case(session, epidemiologist, registry.a1[0])
    return open_investigation(session, epidemiologist, case.id)


def local(day: int, hour: int = 12) -> datetime:
    """A time in March 2022, Langfang local time, as UTC."""
    return datetime(2022, 3, day, hour, tzinfo=UTC) - 8 * HOUR


# --- the itinerary and the risk places ------------------------------------------------


def test_an_investigation_keeps_the_itinerary_in_time_order(
    session: Session, epidemiologist: Actor, investigation: Investigation
) -> None:
    later = add_place(
        session,
        epidemiologist,
        investigation.id,
        name="永辉超市",
        address="银河南路 8 号",
        region_code=A2,
        arrived_at=local(12, 18),
        left_at=local(12, 19),
    )
    earlier = add_place(
        session,
        epidemiologist,
        investigation.id,
        name="第三中学",
        region_code=A1,
        arrived_at=local(11, 8),
        left_at=local(11, 17),
    )

    places = list_places(session, epidemiologist, investigation.id)
    assert [p.id for p in places] == [earlier.id, later.id]
    assert (later.name, later.address, later.region_code, later.published) == (
        "永辉超市",
        "银河南路 8 号",
        A2,
        False,
    )
    assert session.scalars(select(AuditEvent.action).where(AuditEvent.action == "place.add")).all()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "  "}, "name"),
        ({"left_at": local(11, 7)}, "left_at"),  # before arriving
        ({"left_at": local(11, 8)}, "left_at"),  # no time spent
        ({"left_at": local(15, 9)}, "left_at"),  # in the future
        ({"arrived_at": datetime(2022, 3, 11, 8)}, "arrived_at"),  # no time zone
        ({"region_code": "131002999999"}, "region_code"),  # no such region
        ({"region_code": GY}, "region_code"),  # another county's
    ],
)
def test_a_place_with_a_bad_time_or_region_is_refused_naming_the_field(
    session: Session,
    epidemiologist: Actor,
    investigation: Investigation,
    changes: dict[str, object],
    field: str,
) -> None:
    values: dict[str, object] = {
        "name": "菜市场",
        "region_code": B1,
        "arrived_at": local(11, 8),
        "left_at": local(11, 9),
    }
    values.update(changes)
    with pytest.raises(InvalidInput) as refused:
        add_place(session, epidemiologist, investigation.id, **values)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert list_places(session, epidemiologist, investigation.id) == []


def test_published_places_make_the_risk_place_list_of_their_region(
    session: Session, epidemiologist: Actor, investigation: Investigation
) -> None:
    market = add_place(
        session,
        epidemiologist,
        investigation.id,
        name="菜市场",
        region_code=A1,
        arrived_at=local(12, 7),
        left_at=local(12, 8),
    )
    school = add_place(
        session,
        epidemiologist,
        investigation.id,
        name="第三中学",
        region_code=B1,
        arrived_at=local(10, 8),
        left_at=local(10, 17),
    )
    add_place(  # never published
        session,
        epidemiologist,
        investigation.id,
        name="家中",
        region_code=A1,
        arrived_at=local(12, 20),
        left_at=local(13, 7),
    )

    assert publish_places(session, epidemiologist, [market.id, school.id]) == 2
    assert publish_places(session, epidemiologist, [market.id]) == 0  # already on the list

    county = risk_places(session, "131002")
    assert [(p.name, p.region_code, p.arrived_at, p.left_at) for p in county] == [
        ("菜市场", A1, local(12, 7), local(12, 8)),
        ("第三中学", B1, local(10, 8), local(10, 17)),
    ]
    assert [p.name for p in risk_places(session, A1)] == ["菜市场"]
    assert [p.name for p in risk_places(session, "131002", since=local(11, 0))] == ["菜市场"]
    assert risk_places(session, "131003") == []

    assert withdraw_places(session, epidemiologist, [market.id]) == 1
    assert [p.name for p in risk_places(session, "131002")] == ["第三中学"]
    with pytest.raises(NotFound):
        risk_places(session, "999999")


def test_another_county_can_neither_see_nor_publish_the_places(
    session: Session,
    epidemiologist: Actor,
    other_epidemiologist: Actor,
    investigation: Investigation,
) -> None:
    place = add_place(
        session,
        epidemiologist,
        investigation.id,
        name="菜市场",
        region_code=A1,
        arrived_at=local(12, 7),
        left_at=local(12, 8),
    )
    with pytest.raises(NotFound):
        list_places(session, other_epidemiologist, investigation.id)
    with pytest.raises(NotFound):
        publish_places(session, other_epidemiologist, [place.id])
    with pytest.raises(NotFound):
        add_place(
            session,
            other_epidemiologist,
            investigation.id,
            name="x",
            region_code=GY,
            arrived_at=local(12, 7),
            left_at=local(12, 8),
        )
    assert risk_places(session, "131002") == []


# --- named contacts ------------------------------------------------------------------------


def test_named_contacts_become_close_contact_risk_persons_from_the_investigation(
    session: Session, epidemiologist: Actor, investigation: Investigation, registry: Registry
) -> None:
    case = session.get(Case, investigation.case_id)
    assert case is not None
    spouse, colleague = registry.a1[1], registry.b1[0]

    home = name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=spouse.id,
        setting="household",
        last_exposure_at=local(14, 7),
    )
    work = name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=colleague.id,
        setting="work",
        last_exposure_at=local(11, 17),
    )

    assert (home.category, home.inside_window, work.category) == ("close", True, "close")
    risks = session.scalars(select(RiskPerson).order_by(RiskPerson.id)).all()
    assert [(r.person_id, r.category, r.measure, r.status) for r in risks] == [
        (spouse.id, "close", "centralized_quarantine", "to_find"),
        (colleague.id, "close", "centralized_quarantine", "to_find"),
    ]
    assert [r.region_code for r in risks] == [A1, B1]
    assert [r.deadline_at for r in risks] == [clock.now() + 12 * HOUR] * 2
    assert [r.last_exposure_at for r in risks] == [local(14, 7), local(11, 17)]
    sources = session.scalars(select(RiskSource).order_by(RiskSource.id)).all()
    assert [(s.channel, s.source, s.category) for s in sources] == [
        ("investigation", f"case {case.id}", "close"),
        ("investigation", f"case {case.id}", "close"),
    ]
    edges = session.scalars(select(Exposure).order_by(Exposure.id)).all()
    assert [(e.source_person_id, e.person_id, e.setting, e.transmission) for e in edges] == [
        (case.person_id, spouse.id, "household", False),
        (case.person_id, colleague.id, "work", False),
    ]
    assert {e.investigation_id for e in edges} == {investigation.id}
    listed = investigation_contacts(session, epidemiologist, investigation.id)
    assert [(c.person_id, c.category, c.status) for c in listed] == [
        (spouse.id, "close", "to_find"),
        (colleague.id, "close", "to_find"),
    ]


def test_a_contact_before_the_look_back_window_is_kept_as_a_general_contact(
    session: Session, epidemiologist: Actor, investigation: Investigation, registry: Registry
) -> None:
    # onset 13 March, four days back: the window opens on 9 March at 00:00 local
    on_the_edge = name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=registry.a2[0].id,
        setting="social",
        last_exposure_at=local(9, 0),
    )
    before = name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=registry.a2[1].id,
        setting="social",
        last_exposure_at=local(9, 0) - timedelta(minutes=1),
    )

    assert on_the_edge.window_start == local(9, 0)
    assert (on_the_edge.category, on_the_edge.inside_window) == ("close", True)
    assert (before.category, before.inside_window) == ("general", False)
    risk = session.scalars(
        select(RiskPerson).where(RiskPerson.person_id == registry.a2[1].id)
    ).one()
    assert (risk.category, risk.measure) == ("general", "health_monitoring")
    assert session.get(Exposure, before.exposure_id) is not None


def test_without_symptoms_the_window_counts_back_from_the_sample(
    session: Session, epidemiologist: Actor, registry: Registry
) -> None:
    case = make_case(session, epidemiologist, registry.b1[0], onset=None, sampled_at=local(13, 20))
    investigation = open_investigation(session, epidemiologist, case.id)

    inside = name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=registry.b1[1].id,
        setting="household",
        last_exposure_at=local(9, 1),
    )
    outside = name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=registry.b1[2].id,
        setting="household",
        last_exposure_at=local(8, 23),
    )

    assert inside.window_start == local(9, 0)
    assert (inside.category, outside.category) == ("close", "general")


def test_the_look_back_window_follows_the_policy_in_force(
    session: Session,
    epidemiologist: Actor,
    investigation: Investigation,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FANGKONG_POLICY_CLOSE_CONTACT_LOOKBACK_DAYS", "2")
    get_policy.cache_clear()
    try:
        named = name_contact(
            session,
            epidemiologist,
            investigation.id,
            person_id=registry.a2[2].id,
            setting="social",
            last_exposure_at=local(10, 12),
        )
    finally:
        monkeypatch.undo()
        get_policy.cache_clear()
    assert (named.window_start, named.category) == (local(11, 0), "general")


def test_a_contact_named_again_keeps_one_edge_one_report_and_the_later_exposure(
    session: Session, epidemiologist: Actor, investigation: Investigation, registry: Registry
) -> None:
    who = registry.a1[2]
    first = name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=who.id,
        setting="social",
        last_exposure_at=local(12, 9),
    )
    again = name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=who.id,
        setting="household",
        last_exposure_at=local(11, 9),
    )

    assert again.exposure_id == first.exposure_id
    edge = session.get(Exposure, first.exposure_id)
    assert edge is not None
    assert (edge.setting, edge.last_exposure_at) == ("household", local(12, 9))
    assert len(session.scalars(select(RiskSource)).all()) == 1


def test_a_contact_who_is_a_case_gets_the_edge_but_no_risk_person(
    session: Session, epidemiologist: Actor, investigation: Investigation, registry: Registry
) -> None:
    other_case = make_case(session, epidemiologist, registry.a2[3])

    named = name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=other_case.person_id,
        setting="work",
        last_exposure_at=local(12, 9),
    )

    assert (named.category, named.risk_person_id) == (None, None)
    assert session.scalars(select(RiskPerson)).all() == []
    assert session.get(Exposure, named.exposure_id) is not None


@pytest.mark.parametrize(
    ("who", "changes", "error", "field"),
    [
        ("case", {}, InvalidInput, "person_id"),
        ("gy", {}, NotFound, None),
        ("b1", {"setting": "party"}, InvalidInput, "setting"),
        ("b1", {"last_exposure_at": local(14, 11)}, InvalidInput, "last_exposure_at"),
    ],
)
def test_a_bad_contact_is_refused(
    session: Session,
    epidemiologist: Actor,
    investigation: Investigation,
    registry: Registry,
    who: str,
    changes: dict[str, object],
    error: type[Exception],
    field: str | None,
) -> None:
    person = {"case": registry.a1[0], "gy": registry.gy[0], "b1": registry.b1[2]}[who]
    values: dict[str, object] = {"setting": "work", "last_exposure_at": local(12, 9)}
    values.update(changes)
    with pytest.raises(error) as refused:
        name_contact(session, epidemiologist, investigation.id, person_id=person.id, **values)  # type: ignore[arg-type]
    if field is not None:
        assert isinstance(refused.value, InvalidInput)
        assert refused.value.field == field
    assert session.scalars(select(Exposure)).all() == []


# --- transmission, closing, scope ------------------------------------------------------


@pytest.fixture
def three_cases(session: Session, epidemiologist: Actor, registry: Registry) -> list[Case]:
    return [
        make_case(session, epidemiologist, r)
        for r in (registry.a1[3], registry.a1[4], registry.a2[0])
    ]


def test_a_transmission_link_joins_two_cases_once_in_one_direction(
    session: Session, epidemiologist: Actor, three_cases: list[Case]
) -> None:
    first, second, third = three_cases
    investigation = open_investigation(session, epidemiologist, second.id)
    named = name_contact(  # the first case was named as a contact of the second
        session,
        epidemiologist,
        investigation.id,
        person_id=first.person_id,
        setting="household",
        last_exposure_at=local(12, 9),
    )

    link = record_transmission(
        session,
        epidemiologist,
        infector_case_id=second.id,
        infectee_case_id=first.id,
        setting="household",
    )
    assert link.id == named.exposure_id  # the same edge, now a transmission
    assert (link.transmission, link.source_person_id, link.person_id) == (
        True,
        second.person_id,
        first.person_id,
    )
    with pytest.raises(Conflict, match="already recorded as the infector"):
        record_transmission(
            session,
            epidemiologist,
            infector_case_id=first.id,
            infectee_case_id=second.id,
            setting="household",
        )
    with pytest.raises(Conflict, match=f"already has an infector: case {second.id}"):
        record_transmission(
            session,
            epidemiologist,
            infector_case_id=third.id,
            infectee_case_id=first.id,
            setting="work",
        )
    with pytest.raises(InvalidInput) as itself:
        record_transmission(
            session,
            epidemiologist,
            infector_case_id=third.id,
            infectee_case_id=third.id,
            setting="work",
        )
    assert itself.value.field == "infectee_case_id"
    fresh = record_transmission(
        session,
        epidemiologist,
        infector_case_id=first.id,
        infectee_case_id=third.id,
        setting="social",
        last_exposure_at=local(12, 20),
    )
    assert (fresh.transmission, fresh.investigation_id, fresh.region_code) == (True, None, A2)


def test_one_investigation_per_case_and_a_closed_one_takes_nothing_more(
    session: Session, epidemiologist: Actor, investigation: Investigation, registry: Registry
) -> None:
    with pytest.raises(Conflict, match="already has an investigation"):
        open_investigation(session, epidemiologist, investigation.case_id)

    closed = close_investigation(session, epidemiologist, investigation.id, summary="家庭聚集")

    assert (closed.status, closed.closed_at, closed.summary) == ("closed", clock.now(), "家庭聚集")
    with pytest.raises(Conflict, match="closed"):
        name_contact(
            session,
            epidemiologist,
            investigation.id,
            person_id=registry.a1[1].id,
            setting="household",
            last_exposure_at=local(12, 9),
        )
    with pytest.raises(Conflict, match="closed"):
        close_investigation(session, epidemiologist, investigation.id)


def test_another_county_cannot_open_investigate_or_link_the_cases(
    session: Session,
    epidemiologist: Actor,
    other_epidemiologist: Actor,
    investigation: Investigation,
    three_cases: list[Case],
    registry: Registry,
) -> None:
    with pytest.raises(NotFound):
        open_investigation(session, other_epidemiologist, three_cases[0].id)
    with pytest.raises(NotFound):
        name_contact(
            session,
            other_epidemiologist,
            investigation.id,
            person_id=registry.gy[0].id,
            setting="work",
            last_exposure_at=local(12, 9),
        )
    with pytest.raises(NotFound):
        record_transmission(
            session,
            other_epidemiologist,
            infector_case_id=three_cases[0].id,
            infectee_case_id=three_cases[1].id,
            setting="work",
        )
    with pytest.raises(NotFound):
        investigation_contacts(session, other_epidemiologist, investigation.id)

"""The exposure graph: secondary contacts appear and disappear as close
contacts are added or released, and the records follow without a row ever
deleted; clusters are the connected components over cases, checked against
a plain breadth-first search on random graphs (hypothesis). The services run
on SQLite and PostgreSQL; whole-graph performance is measured by the
benchmark, not asserted here."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from fangkong.tracing.cases import record_case
from fangkong.tracing.clusters import clusters
from fangkong.tracing.contacts import name_contact, name_contact_of_contact, record_transmission
from fangkong.tracing.control import set_risk_status
from fangkong.tracing.graph import (
    CLOSE,
    COMPANION,
    CREATE,
    GENERAL,
    MISSING_TIME,
    NO_CATEGORY,
    REOPEN,
    SECONDARY,
    UPGRADE,
    ActiveCloseContacts,
    Edges,
    RiskRecords,
    active_close_contacts,
    case_clusters,
    category_left,
    connected_components,
    not_secondary,
    plan_refresh,
    secondary_contacts,
)
from fangkong.tracing.graph_service import (
    SecondaryRefresh,
    refresh_secondary_contacts,
    release_risk_person,
    update_secondary_contacts_around,
)
from fangkong.tracing.investigations import open_investigation
from fangkong.tracing.models import Case, Exposure, Investigation, RiskPerson, RiskSource
from fangkong.tracing.risk import note_risk_person
from tests.testing.conftest import FrozenClock, Registry, Resident

HOUR = timedelta(hours=1)
# The changes of a whole-graph refresh's audit event that found nothing to do.
NOTHING_CREATED = {"added": 0, "released": 0, "created": 0}
PURE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- oracles -----------------------------------------------------------------------


def bfs_components(
    vertices: Iterable[int], edges: Iterable[tuple[int, int]]
) -> set[frozenset[int]]:
    """Connected components by breadth-first search (direction ignored)."""
    nodes = set(vertices)
    neighbours: dict[int, set[int]] = {v: set() for v in nodes}
    for a, b in edges:
        if a in nodes and b in nodes:
            neighbours[a].add(b)
            neighbours[b].add(a)
    seen: set[int] = set()
    found: set[frozenset[int]] = set()
    for start in sorted(nodes):
        if start in seen:
            continue
        component, queue = {start}, deque([start])
        while queue:
            for other in neighbours[queue.popleft()] - component:
                component.add(other)
                queue.append(other)
        seen |= component
        found.add(frozenset(component))
    return found


# --- connected components and clusters (pure) -------------------------------------------

pairs = st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29)), max_size=60)


@PURE
@given(count=st.integers(0, 30), edges=pairs)
def test_connected_components_match_a_breadth_first_search(
    count: int, edges: list[tuple[int, int]]
) -> None:
    edges = [(a, b) for a, b in edges if a < count and b < count]
    u = np.array([a for a, _ in edges], np.intp)
    v = np.array([b for _, b in edges], np.intp)

    labels = connected_components(count, u, v)

    components: dict[int, set[int]] = {}
    for vertex, label in enumerate(labels.tolist()):
        components.setdefault(label, set()).add(vertex)
    assert {frozenset(c) for c in components.values()} == bfs_components(range(count), edges)
    assert all(label == min(c) for label, c in components.items())


@PURE
@given(
    cases=st.dictionaries(st.integers(1, 40), st.integers(0, 10**6), max_size=25),
    edges=st.lists(st.tuples(st.integers(1, 45), st.integers(1, 45)), max_size=50),
)
def test_clusters_are_the_components_over_cases_and_the_edges_between_them(
    cases: dict[int, int], edges: list[tuple[int, int]]
) -> None:
    edges = [(a, b) for a, b in edges if a != b]
    persons = list(cases)

    found = case_clusters(
        persons,
        [cases[p] for p in persons],
        Edges.of(*zip(*edges, strict=True)) if edges else Edges.of([], []),
    )

    expected = bfs_components(persons, edges)
    got: dict[int, set[int]] = {}
    for person, number in zip(found.person_id.tolist(), found.cluster.tolist(), strict=True):
        got.setdefault(number, set()).add(person)
    assert {frozenset(c) for c in got.values()} == expected
    assert sorted(got) == list(range(len(found)))
    for number, members in got.items():
        assert found.size[number] == len(members)
        assert found.first_confirmed_at[number] == min(cases[p] for p in members)
        assert found.latest_confirmed_at[number] == max(cases[p] for p in members)
    order = [(int(found.first_confirmed_at[n]), min(got[n])) for n in range(len(found))]
    assert order == sorted(order)
    between = [(a, b) for a, b in edges if a in cases and b in cases]
    assert sorted(
        zip(found.edge_source.tolist(), found.edge_target.tolist(), strict=True)
    ) == sorted(between)
    for a, b, number in zip(
        found.edge_source.tolist(),
        found.edge_target.tolist(),
        found.edge_cluster.tolist(),
        strict=True,
    ):
        assert {a, b} <= got[number]


def test_a_person_is_one_case_in_the_clusters() -> None:
    with pytest.raises(ValueError, match="one case"):
        case_clusters([1, 1], [0, 0], Edges.of([], []))


# --- secondary contacts (pure) ---------------------------------------------------------

records_strategy = st.dictionaries(
    st.integers(1, 20),
    st.tuples(st.integers(0, 3), st.booleans(), st.booleans(), st.integers(0, 100)),
    max_size=15,
)
edges_strategy = st.dictionaries(
    st.tuples(st.integers(1, 20), st.integers(1, 20)).filter(lambda e: e[0] != e[1]),
    st.tuples(st.integers(0, 100), st.one_of(st.none(), st.integers(0, 100))),
    max_size=40,
)


@PURE
@given(
    records=records_strategy, edges=edges_strategy, cases=st.sets(st.integers(1, 20), max_size=5)
)
def test_secondary_contacts_are_exposed_to_an_active_close_contact_and_nothing_more(
    records: dict[int, tuple[int, bool, bool, int]],
    edges: dict[tuple[int, int], tuple[int, int | None]],
    cases: set[int],
) -> None:
    """(rank, released, released because they became a case, identified at)"""
    table = RiskRecords.of(
        person_id=list(records),
        rank=[r[0] for r in records.values()],
        released=[r[1] for r in records.values()],
        became_case=[r[1] and r[2] for r in records.values()],
        identified_at=[r[3] for r in records.values()],
    )
    keys = list(edges)
    graph = Edges.of(
        [s for s, _ in keys] or np.zeros(0),
        [t for _, t in keys] or np.zeros(0),
        [edges[k][0] for k in keys] or np.zeros(0),
        [MISSING_TIME if edges[k][1] is None else edges[k][1] for k in keys] or np.zeros(0),
    )

    found = secondary_contacts(
        graph, active_close_contacts(table), not_secondary(table, np.array(sorted(cases)))
    )

    active = {
        p
        for p, (rank, released, as_case, _) in records.items()
        if rank == CLOSE and (not released or as_case)
    }
    barred = cases | {
        p for p, (rank, released, _, _) in records.items() if rank == CLOSE and not released
    }
    expected: dict[int, list[tuple[int, int, int, int]]] = {}
    for (source, target), (recorded, last) in edges.items():
        if source in active and target not in barred:
            evidence = max(recorded, records[source][3])
            expected.setdefault(target, []).append(
                (evidence, source, MISSING_TIME if last is None else last, recorded)
            )
    assert found.person_id.tolist() == sorted(expected)
    for row, person in enumerate(found.person_id.tolist()):
        newest = max(expected[person])
        assert (int(found.evidence_at[row]), int(found.close_contact_id[row])) == newest[:2]
        assert found.last_exposure_at[row] == max(e[2] for e in expected[person])
        assert found.newest_edge_at[row] == max(e[3] for e in expected[person])


def test_no_close_contact_means_no_secondary_contact() -> None:
    found = secondary_contacts(
        Edges.of([1], [2]), ActiveCloseContacts.of([]), np.zeros(0, np.int64)
    )
    assert len(found) == 0


def test_the_plan_creates_upgrades_reopens_and_lets_go() -> None:
    """The close contact 1 was identified at 200; every edge was recorded at 100."""
    records = RiskRecords.of(
        risk_id=[10, 11, 12, 13, 14, 15, 16],
        person_id=[1, 2, 3, 4, 5, 6, 8],
        rank=[CLOSE, GENERAL, SECONDARY, SECONDARY, SECONDARY, COMPANION, SECONDARY],
        released=[False, False, True, True, False, True, True],
        let_go=[False, False, True, False, False, False, False],
        identified_at=[200, 0, 0, 0, 0, 0, 0],
        released_at=[MISSING_TIME, MISSING_TIME, 150, 150, MISSING_TIME, 50, 500],
        last_exposure_at=[MISSING_TIME, 70, MISSING_TIME, MISSING_TIME, MISSING_TIME, 90, 1],
    )
    graph = Edges.of([1] * 6, [2, 3, 4, 6, 7, 8], [100] * 6, [80] * 6)
    found = secondary_contacts(
        graph, active_close_contacts(records), not_secondary(records, np.zeros(0, np.int64))
    )

    plan = plan_refresh(found, records)

    # 2: general -> raised; 3: let go by the graph at 150, before the close
    # contact was identified again (200) -> reopened; 4: released by a person
    # at 150, after the last exposure was recorded (100) -> stays; 6: released
    # companion at 50, before the edge -> reopened; 7: no record -> created;
    # 8: released at 500 -> stays; 5: secondary no longer exposed -> leaves
    assert plan.add_person_id.tolist() == [2, 3, 6, 7]
    assert plan.add_action.tolist() == [UPGRADE, REOPEN, REOPEN, CREATE]
    assert plan.add_risk_id.tolist() == [11, 12, 15, 0]
    assert plan.add_close_contact_id.tolist() == [1, 1, 1, 1]
    assert plan.add_last_exposure_at.tolist() == [80, 80, 90, 80]
    assert plan.leaving_risk_id.tolist() == [14]
    only_some = plan_refresh(found, records, considered=np.array([1, 2, 3]))
    assert only_some.leaving_risk_id.tolist() == []


def test_a_record_leaving_the_secondary_category_keeps_the_other_channels_category() -> None:
    left = category_left(
        np.array([7, 8, 9]),
        np.array([8, 8, 9, 42]),
        np.array([GENERAL, COMPANION, SECONDARY, CLOSE]),
    )
    assert left.tolist() == [NO_CATEGORY, COMPANION, SECONDARY]


# --- the services: secondary contacts follow the close contacts --------------------------


def local(day: int, hour: int = 12) -> datetime:
    return datetime(2022, 3, day, hour, tzinfo=UTC) - 8 * HOUR


def make_case(
    session: Session, actor: Actor, who: Resident, onset: date = date(2022, 3, 13)
) -> Case:
    return record_case(
        session,
        actor,
        person_id=who.id,
        classification="confirmed",
        severity="mild",
        detection_route="fever_clinic",
        sampled_at=clock.now() - 6 * HOUR,
        confirmed_at=clock.now() - HOUR,
        onset_date=onset,
    )


def risk_of(session: Session, who: Resident) -> RiskPerson:
    return session.scalars(select(RiskPerson).where(RiskPerson.person_id == who.id)).one()


def count(session: Session, model: type[RiskPerson] | type[RiskSource]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def investigation(session: Session, epidemiologist: Actor, registry: Registry) -> Investigation:
    """The investigation of the case a1[0] (onset 13 March)."""
    return open_investigation(
        session, epidemiologist, make_case(session, epidemiologist, registry.a1[0]).id
    )


def name(
    session: Session,
    actor: Actor,
    investigation: Investigation,
    who: Resident,
    at: datetime | None = None,
) -> None:
    name_contact(
        session,
        actor,
        investigation.id,
        person_id=who.id,
        setting="household",
        last_exposure_at=at or local(13),
    )


def name_of(
    session: Session, actor: Actor, investigation: Investigation, contact: Resident, who: Resident
) -> bool:
    return name_contact_of_contact(
        session,
        actor,
        investigation.id,
        contact_person_id=contact.id,
        person_id=who.id,
        setting="work",
        last_exposure_at=local(13, 18),
    ).secondary


def test_a_close_contacts_contact_becomes_a_secondary_contact_from_the_investigation(
    session: Session, epidemiologist: Actor, investigation: Investigation, registry: Registry
) -> None:
    close, colleague = registry.a1[1], registry.a2[0]
    name(session, epidemiologist, investigation, close)

    assert name_of(session, epidemiologist, investigation, close, colleague)

    risk = risk_of(session, colleague)
    assert (risk.category, risk.measure, risk.status, risk.region_code) == (
        "secondary",
        "centralized_quarantine",
        "to_find",
        colleague.region_code,
    )
    assert (risk.deadline_at, risk.last_exposure_at) == (clock.now() + 24 * HOUR, local(13, 18))
    source = session.scalars(select(RiskSource).where(RiskSource.risk_person_id == risk.id)).one()
    assert (source.channel, source.category, source.source) == (
        "investigation",
        "secondary",
        f"close contact person {close.id}",
    )


def test_secondary_contacts_appear_and_disappear_as_close_contacts_are_added_and_released(
    session: Session,
    epidemiologist: Actor,
    investigation: Investigation,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    contact, exposed = registry.a1[2], registry.b1[0]
    name(session, epidemiologist, investigation, contact, local(1))  # before the window: general
    assert not name_of(session, epidemiologist, investigation, contact, exposed)
    assert session.scalars(select(RiskPerson).where(RiskPerson.person_id == exposed.id)).all() == []

    frozen.advance(hours=1)
    name(session, epidemiologist, investigation, contact, local(12))  # now close
    assert risk_of(session, contact).category == "close"
    assert (risk_of(session, exposed).category, risk_of(session, exposed).status) == (
        "secondary",
        "to_find",
    )

    frozen.advance(hours=1)
    rows = count(session, RiskPerson)
    release_risk_person(session, epidemiologist, risk_of(session, contact).id, "error")

    gone = risk_of(session, exposed)
    assert (gone.status, gone.release_reason, gone.released_at) == (
        "released",
        "not_a_contact",
        clock.now(),
    )
    assert count(session, RiskPerson) == rows  # released, never deleted
    audit = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "risk_person.release")
    ).one()
    assert (audit.changes["reason"], audit.changes["secondary_released"]) == ("error", 1)


def test_a_secondary_contact_reported_by_another_channel_keeps_that_category(
    session: Session,
    epidemiologist: Actor,
    investigation: Investigation,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    close, neighbour = registry.a1[1], registry.a2[1]
    note_risk_person(
        session,
        person_id=neighbour.id,
        region_code=neighbour.region_code,
        category="general",
        channel="screening",
        source="安次一社区",
        reported_at=clock.now(),
    )
    session.commit()
    name(session, epidemiologist, investigation, close)
    assert name_of(session, epidemiologist, investigation, close, neighbour)
    assert risk_of(session, neighbour).category == "secondary"  # raised

    frozen.advance(hours=2)
    release_risk_person(session, epidemiologist, risk_of(session, close).id, "completed")

    kept = risk_of(session, neighbour)
    assert (kept.category, kept.measure, kept.status) == ("general", "health_monitoring", "to_find")
    channels = session.scalars(
        select(RiskSource.channel)
        .where(RiskSource.risk_person_id == kept.id)
        .order_by(RiskSource.id)
    ).all()
    assert channels == ["screening", "investigation"]


def test_contacts_of_a_close_contact_who_becomes_a_case_stay_secondary(
    session: Session,
    epidemiologist: Actor,
    investigation: Investigation,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    close, exposed = registry.a1[1], registry.b1[1]
    name(session, epidemiologist, investigation, close)
    name_of(session, epidemiologist, investigation, close, exposed)
    frozen.advance(hours=8)  # swabbed six hours ago: after they were known

    case = make_case(session, epidemiologist, close, onset=date(2022, 3, 14))

    assert case.control_basis == "known_contact"
    assert (risk_of(session, close).status, risk_of(session, close).release_reason) == (
        "released",
        "became_case",
    )
    assert (risk_of(session, exposed).category, risk_of(session, exposed).status) == (
        "secondary",
        "to_find",
    )
    # the new case's investigation names them: they become close contacts
    second = open_investigation(session, epidemiologist, case.id)
    name(session, epidemiologist, second, exposed, local(14, 8))
    assert risk_of(session, exposed).category == "close"


def test_a_secondary_contact_released_after_their_measure_is_not_reopened_by_the_graph(
    session: Session,
    epidemiologist: Actor,
    county_commander: Actor,
    investigation: Investigation,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    close, done, dropped = registry.a1[1], registry.a2[2], registry.a2[3]
    name(session, epidemiologist, investigation, close)
    name_of(session, epidemiologist, investigation, close, done)
    name_of(session, epidemiologist, investigation, close, dropped)
    frozen.advance(days=7)
    set_risk_status(session, epidemiologist, risk_of(session, done).id, "under_measure")
    frozen.advance(hours=1)
    set_risk_status(session, epidemiologist, risk_of(session, done).id, "released")

    assert refresh_secondary_contacts(session, county_commander) == SecondaryRefresh(0, 0)
    assert risk_of(session, done).status == "released"

    # the close contact released, then reported again: the graph's secondary
    # contacts are opened again, but not the one who completed the measure
    release_risk_person(session, epidemiologist, risk_of(session, close).id, "error")
    assert risk_of(session, dropped).release_reason == "not_a_contact"
    frozen.advance(hours=1)
    note_risk_person(
        session,
        person_id=close.id,
        region_code=close.region_code,
        category="close",
        channel="request",
        source="廊坊市广阳区",
        reported_at=clock.now(),
    )
    session.commit()

    assert refresh_secondary_contacts(session, county_commander) == SecondaryRefresh(1, 0)
    assert (risk_of(session, dropped).status, risk_of(session, dropped).identified_at) == (
        "to_find",
        clock.now(),
    )
    assert risk_of(session, done).status == "released"
    assert refresh_secondary_contacts(session, county_commander) == SecondaryRefresh(0, 0)


def edge(session: Session, source: Resident, target: Resident, at: datetime) -> None:
    session.add(
        Exposure(
            source_person_id=source.id,
            person_id=target.id,
            region_code=target.region_code,
            setting="social",
            last_exposure_at=at,
            transmission=False,
            recorded_at=clock.now(),
        )
    )


@pytest.mark.parametrize("whole", [True, False], ids=["whole_graph", "around"])
def test_the_whole_graph_refresh_and_the_step_around_persons_agree(
    session: Session,
    county_commander: Actor,
    registry: Registry,
    frozen: FrozenClock,
    whole: bool,
) -> None:
    """A graph written without the services: close contacts a1[0..1] and
    their contacts; a general contact to raise, a released secondary to open
    again, a secondary typed by a channel that stays, and two left over from
    an earlier graph: one to release, one to return to general."""
    a, b = registry.a1[0], registry.a1[1]
    plain, general, stale, reopened, typed = (
        registry.a2[0],
        registry.a2[1],
        registry.b1[0],
        registry.b1[1],
        registry.b1[2],
    )
    orphan, mixed = registry.a1[3], registry.a1[4]
    for person, category, channel, source in (
        (a, "close", "screening", "社区"),
        (b, "close", "screening", "社区"),
        (general, "general", "screening", "社区"),
        (reopened, "secondary", "screening", "社区"),
        (typed, "secondary", "request", "北京市朝阳区"),
        (orphan, "secondary", "investigation", f"close contact person {registry.a1[5].id}"),
        (mixed, "general", "bigdata", "batch 7"),
        (mixed, "secondary", "investigation", f"close contact person {registry.a1[5].id}"),
    ):
        note_risk_person(
            session,
            person_id=person.id,
            region_code=person.region_code,
            category=category,
            channel=channel,
            source=source,
            reported_at=clock.now(),
        )
    session.commit()
    set_risk_status(session, county_commander, risk_of(session, reopened).id, "released")
    frozen.advance(hours=1)
    for exposer, exposed in ((a, plain), (b, plain), (a, general), (b, reopened), (plain, stale)):
        edge(session, exposer, exposed, local(13, 9))
    session.commit()
    frozen.advance(hours=1)

    if whole:
        first = refresh_secondary_contacts(session, county_commander)
    else:
        everyone = [r.id for r in (*registry.a1, *registry.a2, *registry.b1)]
        first = update_secondary_contacts_around(session, everyone)
        session.commit()

    assert first == SecondaryRefresh(3, 2)
    rows = {
        r.person_id: (
            r.category,
            r.measure,
            r.status,
            r.release_reason,
            r.deadline_at,
            r.last_exposure_at,
        )
        for r in session.scalars(select(RiskPerson))
    }
    deadline = clock.now() + 24 * HOUR
    assert rows[plain.id] == (
        "secondary",
        "centralized_quarantine",
        "to_find",
        "",
        deadline,
        local(13, 9),
    )
    assert rows[general.id][:5] == (  # the deadline brought forward
        "secondary",
        "centralized_quarantine",
        "to_find",
        "",
        deadline,
    )
    assert rows[reopened.id] == (
        "secondary",
        "centralized_quarantine",
        "to_find",
        "",
        deadline,
        local(13, 9),
    )
    assert rows[typed.id][:4] == ("secondary", "centralized_quarantine", "to_find", "")
    assert rows[orphan.id][2:4] == ("released", "not_a_contact")
    assert rows[mixed.id][:4] == ("general", "health_monitoring", "to_find", "")
    assert stale.id not in rows  # plain is not a close contact
    sources = session.scalars(
        select(RiskSource.source)
        .where(RiskSource.received_at == clock.now())
        .order_by(RiskSource.source)
    ).all()
    assert sources == sorted(
        [
            f"close contact person {b.id}",
            f"close contact person {a.id}",
            f"close contact person {b.id}",
        ]
    )
    # and then the other way finds nothing to do
    again = (
        update_secondary_contacts_around(
            session, [r.id for r in (*registry.a1, *registry.a2, *registry.b1)]
        )
        if whole
        else refresh_secondary_contacts(session, county_commander)
    )
    assert again == SecondaryRefresh(0, 0)
    # one audit event per record changed, none for the secondary another
    # channel reported, which stays as it is; a record the whole-graph
    # refresh made is counted in the refresh's event instead (as an import's
    # new persons are), one made one by one has its own
    added, left = "exposed to an active close contact", "no active close contact exposed them"
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "risk_person.graph"))
    made_one_by_one = [] if whole else [(plain, added)]
    assert sorted((e.object_id, e.changes["reason"], e.region_code) for e in events) == sorted(
        (str(risk_of(session, who).id), reason, who.region_code)
        for who, reason in (
            *made_one_by_one,
            (general, added),
            (reopened, added),
            (orphan, left),
            (mixed, left),
        )
    )
    refreshes = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "tracing.secondary_contacts.refresh")
    ).all()
    expected = {"added": 3, "released": 2, "created": 1} if whole else NOTHING_CREATED
    assert [(e.changes, e.region_code) for e in refreshes] == [
        (expected, county_commander.jurisdiction)
    ]
    # and the county where the record was made sees it in its own log
    made = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "tracing.secondary_contacts.created")
    ).all()
    made_in = [(e.region_code, e.changes["created"]) for e in made]
    assert made_in == ([(plain.region_code[:6], 1)] if whole else [])


def test_the_whole_graph_refresh_is_audited_and_needs_the_manage_permission(
    session: Session,
    county_commander: Actor,
    sampler: Actor,
) -> None:
    with pytest.raises(PermissionDenied):
        refresh_secondary_contacts(session, sampler)
    refresh_secondary_contacts(session, county_commander)
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "tracing.secondary_contacts.refresh")
    ).one()
    assert event.changes == NOTHING_CREATED


def test_releasing_needs_a_reason_and_a_risk_person_in_scope(
    session: Session,
    epidemiologist: Actor,
    other_epidemiologist: Actor,
    investigation: Investigation,
    registry: Registry,
) -> None:
    name(session, epidemiologist, investigation, registry.a1[1])
    risk = risk_of(session, registry.a1[1])
    with pytest.raises(InvalidInput) as refused:
        release_risk_person(session, epidemiologist, risk.id, "bored")
    assert refused.value.field == "reason"
    with pytest.raises(NotFound):
        release_risk_person(session, other_epidemiologist, risk.id, "error")
    release_risk_person(session, epidemiologist, risk.id, "completed")
    with pytest.raises(Conflict, match="already released"):
        release_risk_person(session, epidemiologist, risk.id, "completed")


# --- the services: clusters ---------------------------------------------------------------


def test_clusters_are_connected_cases_with_their_chain_inside_the_jurisdiction(
    session: Session,
    epidemiologist: Actor,
    other_epidemiologist: Actor,
    city_commander: Actor,
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    first = make_case(session, epidemiologist, registry.a1[0])
    frozen.advance(hours=2)
    second = make_case(session, epidemiologist, registry.a1[3])
    frozen.advance(hours=2)
    third = make_case(session, epidemiologist, registry.a2[0])
    alone = make_case(session, epidemiologist, registry.b1[0])
    frozen.advance(hours=2)
    away = make_case(session, city_commander, registry.gy[0])
    record_transmission(
        session,
        epidemiologist,
        infector_case_id=first.id,
        infectee_case_id=second.id,
        setting="household",
    )
    investigation = open_investigation(session, epidemiologist, second.id)
    name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=third.person_id,
        setting="work",
        last_exposure_at=local(13),
    )
    name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=registry.a2[1].id,
        setting="work",
        last_exposure_at=local(13),
    )
    record_transmission(
        session,
        city_commander,
        infector_case_id=third.id,
        infectee_case_id=away.id,
        setting="social",
    )

    found = clusters(session, epidemiologist, "131002")

    assert len(found) == 1
    cluster = found[0]
    assert cluster.size == 3  # Guangyang's case links them but is neither shown nor counted
    assert [c.case_id for c in cluster.cases] == [first.id, second.id, third.id]
    assert (cluster.first_confirmed_at, cluster.latest_confirmed_at) == (
        first.confirmed_at,
        third.confirmed_at,
    )
    assert [
        (link.source_case_id, link.target_case_id, link.transmission) for link in cluster.chain
    ] == [
        (first.id, second.id, True),
        (second.id, third.id, False),
    ]
    with_singletons = clusters(session, epidemiologist, "131002", min_size=1)
    assert [c.size for c in with_singletons] == [3, 1]
    assert with_singletons[1].cases[0].case_id == alone.id

    assert clusters(session, other_epidemiologist) == []  # one case of theirs: no cluster they see
    theirs = clusters(session, other_epidemiologist, min_size=1)
    assert [[c.case_id for c in k.cases] for k in theirs] == [[away.id]]
    assert theirs[0].chain == []
    city = clusters(session, city_commander, "131000")
    assert [len(k.cases) for k in city] == [4]
    assert len(city[0].chain) == 3
    with pytest.raises(NotFound):
        clusters(session, other_epidemiologist, "131002")
    assert clusters(session, epidemiologist, "131002002") == []  # alone is no cluster


def test_every_record_the_graph_changes_is_audited_in_its_own_region(
    session: Session, registry: Registry, epidemiologist: Actor
) -> None:
    case = record_case(
        session,
        epidemiologist,
        person_id=registry.a1[0].id,
        classification="confirmed",
        severity="mild",
        detection_route="fever_clinic",
        sampled_at=clock.now() - timedelta(hours=5),
        confirmed_at=clock.now() - timedelta(hours=2),
    )
    investigation = open_investigation(session, epidemiologist, case.id)
    close, secondary = registry.a1[3], registry.a2[0]
    name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=close.id,
        setting="work",
        last_exposure_at=clock.now() - timedelta(hours=6),
    )
    name_contact_of_contact(
        session,
        epidemiologist,
        investigation.id,
        contact_person_id=close.id,
        person_id=secondary.id,
        setting="household",
        last_exposure_at=clock.now() - timedelta(hours=4),
    )
    release_risk_person(session, epidemiologist, risk_of(session, close).id, "error")
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "risk_person.graph").order_by(AuditEvent.id)
    ).all()
    assert [e.changes["reason"] for e in events] == [
        "exposed to an active close contact",
        "no active close contact exposed them",
    ]
    assert {e.object_id for e in events} == {str(risk_of(session, secondary).id)}
    assert {e.region_code for e in events} == {secondary.region_code}

"""The exposure graph in the database: the secondary-contact risk persons
kept in line with it, and the release of a risk person (which can change
it). The clusters of cases are in :mod:`fangkong.tracing.clusters`.

Secondary contacts are computed, never typed (rules in
:mod:`fangkong.tracing.graph`). :func:`refresh_secondary_contacts` makes
the records match the whole graph: a new secondary contact gets a risk
person of category ``secondary`` from channel ``investigation`` whose
source names the close contact (``close contact person <id>``); a companion
or general contact is raised to secondary; a released record is opened
again on evidence newer than its release (the rule:
:func:`~fangkong.tracing.graph.plan_refresh`); a record the graph no longer supports
leaves the category — released with reason ``not_a_contact`` (never
deleted) when the graph was its only reason, otherwise back to the most
serious category its other reports gave. The derived records follow the
graph into every county: a secondary contact is a fact of the graph, not a
user's choice, and the county where they live must find them.

The whole-graph refresh reads the edges and the risk persons in bulk
(``COPY`` on PostgreSQL) and writes under a table lock that keeps other
writers of risk persons out until it commits: the records it creates get
their ids up front, so they and their sources go in by ``COPY`` of rows
made here (recorded by the refresh's audit event, as an import records the
persons it creates); the records it raises, reopens or lets go by
set-based statements. The services that change the graph call
:func:`update_secondary_contacts_around` with the persons whose edges or
status changed: it looks only at them and the persons exposed to them, and
goes through ``note_risk_person`` one person at a time, inside the caller's
transaction.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from sqlalchemy import Connection, TextClause, bindparam, text
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, ensure_in_scope, record_audit, require
from fangkong.bulkio import copy_in, copy_out, is_postgres, lock_for_append, reserve_ids, staged
from fangkong.db import UtcDateTime
from fangkong.errors import Conflict, InvalidInput
from fangkong.policy import get_policy
from fangkong.tracing.graph import (
    CREATE,
    MISSING_TIME,
    NO_CATEGORY,
    REOPEN,
    SECONDARY,
    UPGRADE,
    Edges,
    Ids,
    RefreshPlan,
    RiskRecords,
    Times,
    active_close_contacts,
    category_left,
    ids,
    not_secondary,
    plan_refresh,
    secondary_contacts,
)
from fangkong.tracing.models import RELEASE_REASONS, RiskPerson, RiskSource
from fangkong.tracing.risk import note_risk_person
from fangkong.tracing.rules import CATEGORY_RANK, deadline_for, report_fingerprint

GRAPH_CHANNEL = "investigation"
SOURCE_PREFIX = "close contact person "
CATEGORY_BY_RANK = {rank: category for category, rank in CATEGORY_RANK.items()}
CATEGORY_ORDER = pa.array([CATEGORY_BY_RANK[rank] for rank in sorted(CATEGORY_BY_RANK)])
TIME = pa.timestamp("us", tz="UTC")
EDGE_SCHEMA = pa.schema(
    [
        ("source", pa.int64()),
        ("target", pa.int64()),
        ("recorded_at", TIME),
        ("last_exposure_at", TIME),
        ("region_code", pa.string()),
    ]
)
RISK_SCHEMA = pa.schema(
    [
        ("risk_id", pa.int64()),
        ("person_id", pa.int64()),
        ("category", pa.string()),
        ("status", pa.string()),
        ("release_reason", pa.string()),
        ("identified_at", TIME),
        ("released_at", TIME),
        ("last_exposure_at", TIME),
    ]
)
RISK_COLUMNS = (
    "r.id, r.person_id, r.category, r.status, r.release_reason, r.identified_at, "
    "r.released_at, r.last_exposure_at"
)
PERSONS = pa.schema([("person_id", pa.int64())])
EDGES_QUERY = (
    "SELECT e.source_person_id, e.person_id, e.recorded_at, e.last_exposure_at, e.region_code "
)
REGIONS = pa.schema([("person_id", pa.int64()), ("region_code", pa.string())])


class SecondaryRefresh(NamedTuple):
    added: int  # persons who became secondary contacts
    released: int  # persons who stopped being secondary (released, or back to another category)


def graph_source(close_contact_person_id: int) -> str:
    return f"{SOURCE_PREFIX}{close_contact_person_id}"


# --- reading the graph ---------------------------------------------------------------


def micros_of(column: pa.ChunkedArray) -> Times:
    """A time column as microseconds since the epoch (MISSING_TIME for none)."""
    as_int = pc.fill_null(column.cast(pa.int64()), MISSING_TIME)
    return np.asarray(as_int.to_numpy(), np.int64)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _moment(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def _frommicros_of(micros: int) -> datetime | None:
    return None if micros == MISSING_TIME else _moment(micros)


def _edges(table: pa.Table) -> Edges:
    return Edges.of(
        table.column("source").to_numpy(),
        table.column("target").to_numpy(),
        micros_of(table.column("recorded_at")),
        micros_of(table.column("last_exposure_at")),
    )


def _records(table: pa.Table) -> RiskRecords:
    rank = pc.index_in(table.column("category"), value_set=CATEGORY_ORDER)
    return RiskRecords.of(
        risk_id=table.column("risk_id").to_numpy(),
        person_id=table.column("person_id").to_numpy(),
        rank=rank.to_numpy(),
        released=pc.equal(table.column("status"), "released").to_numpy(),
        became_case=pc.equal(table.column("release_reason"), "became_case").to_numpy(),
        let_go=pc.equal(table.column("release_reason"), "not_a_contact").to_numpy(),
        identified_at=micros_of(table.column("identified_at")),
        released_at=micros_of(table.column("released_at")),
        last_exposure_at=micros_of(table.column("last_exposure_at")),
    )


def _persons(table: pa.Table) -> Ids:
    return ids(table.column("person_id").to_numpy())


def _person_table(person_ids: Ids) -> pa.Table:
    return pa.table({"person_id": pa.array(np.unique(person_ids), pa.int64())})


def _exposed_regions(table: pa.Table) -> pa.Table:
    """Each exposed person's region as their latest exposure recorded it
    (``REGIONS``, one row per person): an edge carries the region of the
    person it exposes, so a new record needs no lookup in the registry."""
    latest = table.sort_by([("target", "ascending"), ("recorded_at", "descending")])
    target = latest.column("target").to_numpy()
    first = np.ones(target.size, dtype=bool)
    first[1:] = target[1:] != target[:-1]
    return pa.table(
        [latest.column("target").filter(first), latest.column("region_code").filter(first)],
        schema=REGIONS,
    )


@dataclass(frozen=True)
class _Graph:
    edges: Edges
    records: RiskRecords
    case_persons: Ids
    considered: Ids | None  # the persons whose in-edges were all read; None: everyone
    regions: pa.Table  # REGIONS of the persons exposed on the edges read


def _graph(
    edge_table: pa.Table, records: RiskRecords, cases: Ids, considered: Ids | None
) -> _Graph:
    return _Graph(_edges(edge_table), records, cases, considered, _exposed_regions(edge_table))


def _read_whole(conn: Connection) -> _Graph:
    return _graph(
        copy_out(conn, EDGES_QUERY + "FROM exposure e", EDGE_SCHEMA),
        _records(copy_out(conn, f"SELECT {RISK_COLUMNS} FROM risk_person r", RISK_SCHEMA)),
        _persons(copy_out(conn, "SELECT person_id FROM tracing_case", PERSONS)),
        None,
    )


def _read_around(conn: Connection, person_ids: Ids) -> _Graph:
    """The persons given, those exposed to them, every edge into these, and
    the records of everyone on those edges."""
    with staged(
        conn, "stage_graph_around", "person_id BIGINT PRIMARY KEY", _person_table(person_ids)
    ):
        considered = _persons(
            copy_out(
                conn,
                "SELECT person_id FROM stage_graph_around UNION SELECT e.person_id "
                "FROM exposure e JOIN stage_graph_around a ON a.person_id = e.source_person_id",
                PERSONS,
            )
        )
    rows = _person_table(considered)
    with staged(conn, "stage_graph_considered", "person_id BIGINT PRIMARY KEY", rows):
        into = "FROM exposure e JOIN stage_graph_considered c ON c.person_id = e.person_id"
        edges = copy_out(conn, EDGES_QUERY + into, EDGE_SCHEMA)
        records = _records(
            copy_out(
                conn,
                f"SELECT {RISK_COLUMNS} FROM risk_person r WHERE r.person_id IN "
                f"(SELECT person_id FROM stage_graph_considered "
                f"UNION SELECT e.source_person_id {into})",
                RISK_SCHEMA,
            )
        )
        cases = _persons(
            copy_out(
                conn,
                "SELECT t.person_id FROM tracing_case t "
                "JOIN stage_graph_considered c ON c.person_id = t.person_id",
                PERSONS,
            )
        )
    return _graph(edges, records, cases, considered)


def _plan(graph: _Graph) -> RefreshPlan:
    found = secondary_contacts(
        graph.edges,
        active_close_contacts(graph.records),
        not_secondary(graph.records, graph.case_persons),
    )
    return plan_refresh(found, graph.records, graph.considered)


# --- writing -------------------------------------------------------------------------

Mask = NDArray[np.bool_]
# The risk records a step changed, for their audit events.
CHANGED = pa.schema([("risk_id", pa.int64()), ("region_code", pa.string())])


def _timed(sql: str, *names: str) -> TextClause:
    """A statement whose named parameters are times, bound as the ORM binds
    them (so SQLite stores them in the same text form)."""
    return text(sql).bindparams(*(bindparam(n, type_=UtcDateTime()) for n in names))


def _time_text(conn: Connection, micros: Times) -> pa.Array:
    """Times as text a staged column holds and the database reads back as
    the ORM writes them (naive UTC with microseconds on SQLite)."""
    missing = micros == MISSING_TIME
    moments = pa.array(micros, pa.int64(), mask=missing).cast(pa.timestamp("us"))
    as_text = pc.cast(moments, pa.string())
    return pc.binary_join_element_wise(as_text, "+00", "") if is_postgres(conn) else as_text


def _time_constant(conn: Connection, moment: datetime) -> str:
    """One time as :func:`_time_text` writes it, for a constant column of
    ``copy_in``: its own text drops zero microseconds on SQLite, where the
    ORM keeps them and times compare as text."""
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    return str(_time_text(conn, np.array([micros], np.int64))[0].as_py())


def _as_time(conn: Connection, column: str) -> str:
    return f"CAST({column} AS TIMESTAMPTZ)" if is_postgres(conn) else column


def _regions_of(regions: pa.Table, person_id: pa.Array) -> pa.Array:
    """The region of each of ``person_id`` (exposed persons) in ``REGIONS``."""
    at = pc.index_in(person_id, value_set=regions.column("person_id").combine_chunks())
    return regions.column("region_code").combine_chunks().take(at)


def _add_one_by_one(
    session: Session, plan: RefreshPlan, regions: pa.Table, now: datetime
) -> pa.Table:
    """Each new secondary contact through the one-record rule; returns the
    records (``CHANGED``)."""
    person_ids = [int(p) for p in plan.add_person_id]
    region_of = _regions_of(regions, pa.array(person_ids, pa.int64())).to_pylist()
    risks = [
        note_risk_person(
            session,
            person_id=person_id,
            region_code=region,
            category="secondary",
            channel=GRAPH_CHANNEL,
            source=graph_source(int(close_id)),
            reported_at=now,
            last_exposure_at=_frommicros_of(int(last)),
        ).risk_person
        for person_id, region, close_id, last in zip(
            person_ids, region_of, plan.add_close_contact_id, plan.add_last_exposure_at, strict=True
        )
    ]
    session.flush()
    return pa.table([[r.id for r in risks], [r.region_code for r in risks]], schema=CHANGED)


def _add_in_bulk(
    conn: Connection, plan: RefreshPlan, regions: pa.Table, now: datetime
) -> tuple[pa.Table, pa.Table]:
    """The one-record rule of ``note_risk_person`` for many persons at once:
    a new record, a companion or general contact raised (the deadline only
    brought forward), a released record opened again; each with a source
    naming the close contact unless the record holds that report already.
    Rows are made here and written by ``COPY``, not by statements that join
    the tables again, and the new records' sources are hashed while the
    server writes the records (benchmarks/RESULTS.md, "Tracing"). Returns
    the records that were held and those made (``CHANGED`` each)."""
    creating = plan.add_action == CREATE
    with ThreadPoolExecutor(1) as worker:
        reports = worker.submit(_graph_reports, plan.add_close_contact_id[creating], now)
        held = _raise_and_reopen(conn, plan, ~creating, now)
        made = _create_records(conn, plan, creating, regions, now)
        sources, prints = reports.result()
        _insert_sources(conn, made, sources, prints, now)
    return held, made


def _graph_reports(close_contact_id: Ids, now: datetime) -> tuple[pa.Array, pa.Array]:
    """The source and the fingerprint of the graph's report of each row,
    hashed once per close contact."""
    close, inverse = np.unique(close_contact_id, return_inverse=True)
    sources = [graph_source(int(c)) for c in close]
    prints = [report_fingerprint(GRAPH_CHANNEL, s, "secondary", now) for s in sources]
    at = pa.array(inverse.reshape(-1), pa.int64())
    return pa.array(sources, pa.string()).take(at), pa.array(prints, pa.string()).take(at)


STAGED_HELD = (
    "risk_id BIGINT PRIMARY KEY, action INTEGER NOT NULL, fingerprint TEXT NOT NULL, "
    "last_exposure_at TEXT"
)
HELD = pa.schema([("risk_id", pa.int64()), ("region_code", pa.string()), ("known", pa.bool_())])


def _raise_and_reopen(conn: Connection, plan: RefreshPlan, rows: Mask, now: datetime) -> pa.Table:
    """The plan's ``rows`` of existing records: companion or general
    contacts raised to secondary, released records opened again, and the
    graph's report added to each that lacks it. Returns them (``CHANGED``)."""
    if not rows.any():
        return CHANGED.empty_table()
    sources, prints = _graph_reports(plan.add_close_contact_id[rows], now)
    stage = pa.table(
        {
            "risk_id": pa.array(plan.add_risk_id[rows], pa.int64()),
            "action": pa.array(plan.add_action[rows], pa.int64()),
            "fingerprint": prints,
            "last_exposure_at": _time_text(conn, plan.add_last_exposure_at[rows]),
        }
    )
    with staged(conn, "stage_graph_held", STAGED_HELD, stage):
        _update_held(conn, now)
        found = copy_out(
            conn,
            """SELECT s.risk_id, r.region_code, EXISTS (SELECT 1 FROM risk_source k
                WHERE k.risk_person_id = s.risk_id AND k.fingerprint = s.fingerprint)
            FROM stage_graph_held s JOIN risk_person r ON r.id = s.risk_id""",
            HELD,
        )
    new = pc.invert(found.column("known"))
    at = pc.index_in(found.column("risk_id"), value_set=stage.column("risk_id").combine_chunks())
    _insert_sources(
        conn, found.filter(new), sources.take(at).filter(new), prints.take(at).filter(new), now
    )
    return found.select(CHANGED.names)


def _update_held(conn: Connection, now: datetime) -> None:
    """The staged companion or general contacts raised to secondary, the
    staged released records opened again."""
    policy = get_policy()
    last = _as_time(conn, "s.last_exposure_at")
    values = {
        "now": now,
        "deadline": deadline_for(now, "secondary", policy),
        "measure": policy.measure_for("secondary"),
    }
    conn.execute(
        _timed(
            f"""UPDATE risk_person SET category = 'secondary', measure = :measure,
                deadline_at = CASE WHEN deadline_at < :deadline THEN deadline_at
                                   ELSE :deadline END,
                last_exposure_at = {last}, updated_at = :now
            FROM stage_graph_held s
            WHERE s.risk_id = risk_person.id AND s.action = {UPGRADE}""",
            "now",
            "deadline",
        ),
        values,
    )
    conn.execute(
        _timed(
            f"""UPDATE risk_person SET category = 'secondary', measure = :measure,
                status = 'to_find', released_at = NULL, release_reason = '',
                controlled_at = NULL, identified_at = :now, deadline_at = :deadline,
                last_exposure_at = {last}, updated_at = :now
            FROM stage_graph_held s
            WHERE s.risk_id = risk_person.id AND s.action = {REOPEN}""",
            "now",
            "deadline",
        ),
        values,
    )


def _create_records(
    conn: Connection, plan: RefreshPlan, rows: Mask, regions: pa.Table, now: datetime
) -> pa.Table:
    """New secondary-contact records, to be found, for the plan's ``rows``
    (persons without a record), in the regions their exposures recorded.
    Their ids are reserved here, so their sources need not read them back.
    Returns them (``CHANGED``)."""
    person_id = pa.array(plan.add_person_id[rows], pa.int64())
    records = pa.table(
        [reserve_ids(conn, "risk_person", len(person_id)), _regions_of(regions, person_id)],
        schema=CHANGED,
    )
    table = pa.table(
        {
            "id": records.column("risk_id"),
            "person_id": person_id,
            "region_code": records.column("region_code"),
            "last_exposure_at": _time_text(conn, plan.add_last_exposure_at[rows]),
        }
    )
    policy = get_policy()
    when = _time_constant(conn, now)
    constants = {
        "category": "secondary",
        "measure": policy.measure_for("secondary"),
        "status": "to_find",
        "identified_at": when,
        "deadline_at": _time_constant(conn, deadline_for(now, "secondary", policy)),
        "release_reason": "",
        "updated_at": when,
    }
    copy_in(conn, "risk_person", table, constants)
    return records


def _insert_sources(
    conn: Connection, records: pa.Table, sources: pa.Array, prints: pa.Array, now: datetime
) -> None:
    """The graph's report of each record (``CHANGED``), naming the close
    contact."""
    rows = pa.table(
        {
            "risk_person_id": records.column("risk_id"),
            "region_code": records.column("region_code"),
            "source": sources,
            "fingerprint": prints,
        }
    )
    when = _time_constant(conn, now)
    constants = {
        "channel": GRAPH_CHANNEL,
        "category": "secondary",
        "reported_at": when,
        "received_at": when,
    }
    copy_in(conn, "risk_source", rows, constants)


def _settle_leaving(conn: Connection, plan: RefreshPlan, now: datetime) -> pa.Table:
    """Records the graph no longer holds as secondary: released when the
    graph was their only reason, else back to their other reports' most
    serious category (the deadline is left as it was). A record another
    channel reported as secondary stays as it is. Returns the records that
    left the secondary category (``CHANGED``)."""
    if plan.leaving_risk_id.size == 0:
        return CHANGED.empty_table()
    leaving = pa.table({"risk_id": pa.array(np.unique(plan.leaving_risk_id), pa.int64())})
    with staged(conn, "stage_graph_leaving", "risk_id BIGINT PRIMARY KEY", leaving):
        others = copy_out(
            conn,
            f"""SELECT s.risk_person_id, s.category FROM risk_source s
            JOIN stage_graph_leaving l ON l.risk_id = s.risk_person_id
            WHERE NOT (s.channel = '{GRAPH_CHANNEL}' AND s.category = 'secondary')""",
            pa.schema([("risk_id", pa.int64()), ("category", pa.string())]),
        )
    risk_ids = ids(leaving.column("risk_id").to_numpy())
    left = category_left(
        risk_ids,
        ids(others.column("risk_id").to_numpy()),
        pc.index_in(others.column("category"), value_set=CATEGORY_ORDER).to_numpy(),
    )
    moving = left != SECONDARY
    if not moving.any():
        return CHANGED.empty_table()
    nexts = pa.table(
        {
            "risk_id": pa.array(risk_ids[moving], pa.int64()),
            "category": pa.array(
                [CATEGORY_BY_RANK.get(int(r), "") for r in left[moving]], pa.string()
            ),
        }
    )
    with staged(conn, "stage_graph_next", "risk_id BIGINT PRIMARY KEY, category TEXT", nexts):
        _move_out(conn, np.unique(left[moving & (left != NO_CATEGORY)]), now)
        return copy_out(
            conn,
            "SELECT r.id, r.region_code FROM risk_person r "
            "JOIN stage_graph_next n ON n.risk_id = r.id",
            CHANGED,
        )


def _move_out(conn: Connection, ranks: Ids, now: datetime) -> None:
    """The staged records released (no category left) or moved to their
    category (one of ``ranks``)."""
    conn.execute(
        _timed(
            """UPDATE risk_person SET status = 'released', released_at = :now,
                release_reason = 'not_a_contact', updated_at = :now
            WHERE id IN (SELECT risk_id FROM stage_graph_next WHERE category = '')""",
            "now",
        ),
        {"now": now},
    )
    policy = get_policy()
    for rank in ranks:
        category = CATEGORY_BY_RANK[int(rank)]
        conn.execute(
            _timed(
                """UPDATE risk_person SET category = :category, measure = :measure,
                    updated_at = :now
                WHERE id IN (SELECT risk_id FROM stage_graph_next
                             WHERE category = :category)""",
                "now",
            ),
            {"now": now, "category": category, "measure": policy.measure_for(category)},
        )


def _forget_loaded_records(session: Session) -> None:
    """Statements changed risk persons behind the session's back."""
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, RiskPerson | RiskSource):
            session.expire(loaded)


def _apply(
    session: Session, conn: Connection, graph: _Graph, *, bulk: bool
) -> tuple[SecondaryRefresh, int]:
    """The plan written; returns what changed and how many records were
    made. Records made in bulk (a whole-graph refresh) have no audit event
    each, as the persons of a registry import have none: their source (the
    graph's report, received at the refresh's time) and the refresh's one
    event record them. Every record that existed and changed has its own."""
    plan = _plan(graph)
    now = clock.now()
    changed = made = CHANGED.empty_table()
    if plan.add_person_id.size and bulk:
        changed, made = _add_in_bulk(conn, plan, graph.regions, now)
    elif plan.add_person_id.size:
        changed = _add_one_by_one(session, plan, graph.regions, now)
    left = _settle_leaving(conn, plan, now)
    _audit_graph_changes(conn, changed, ADDED_CHANGES, now)
    _audit_graph_changes(conn, left, LEFT_CHANGES, now)
    _forget_loaded_records(session)
    return SecondaryRefresh(int(plan.add_person_id.size), left.num_rows), made.num_rows


ADDED_CHANGES = {"category": "secondary", "reason": "exposed to an active close contact"}
LEFT_CHANGES = {
    "secondary": "ended",
    "reason": "no active close contact exposed them",
}


def _audit_graph_changes(
    conn: Connection, records: pa.Table, changes: dict[str, str], now: datetime
) -> None:
    """One audit event per risk record the graph changed (made one by one or
    raised to a secondary contact; no longer one), in the records' own
    regions, with "graph" as the actor: the user whose action changed the
    graph has the audit event of that action. Written by ``COPY``: a
    refresh can change tens of thousands."""
    if records.num_rows == 0:
        return
    events = pa.table(
        {
            "object_id": pc.cast(records.column("risk_id"), pa.string()),
            "region_code": records.column("region_code"),
        }
    )
    constants = {
        "at": _time_constant(conn, now),
        "actor_label": "graph",
        "action": "risk_person.graph",
        "object_type": "risk_person",
        "changes": json.dumps(changes),
    }
    copy_in(conn, "audit_event", events, constants)


def update_secondary_contacts_around(
    session: Session, person_ids: list[int] | Ids
) -> SecondaryRefresh:
    """Bring the secondary contacts in line with the graph after the status
    or the edges of ``person_ids`` changed: they and the persons exposed to
    them are looked at. A step inside a service: adds to the caller's
    transaction and does not commit (the caller checked the permission)."""
    session.flush()
    conn = session.connection()
    refreshed, _ = _apply(session, conn, _read_around(conn, ids(person_ids)), bulk=False)
    return refreshed


def refresh_secondary_contacts(session: Session, actor: Actor) -> SecondaryRefresh:
    """Make every secondary-contact risk person match the whole exposure
    graph; one audit event with the counts (``created``: the records made,
    which have no event each). Idempotent."""
    require(actor, Permission.TRACING_MANAGE)
    session.flush()
    conn = session.connection()
    lock_for_append(conn, ["risk_person", "risk_source"])
    refreshed, created = _apply(session, conn, _read_whole(conn), bulk=True)
    record_audit(
        session,
        actor,
        "tracing.secondary_contacts.refresh",
        "exposure_graph",
        "secondary_contacts",
        None,
        {**refreshed._asdict(), "created": created},
    )
    session.commit()
    return refreshed


# --- releasing a risk person ------------------------------------------------------


def end_risk_record(risk: RiskPerson, reason: str, now: datetime) -> None:
    """Release a risk person's record (nothing is deleted)."""
    risk.status = "released"
    risk.released_at = now
    risk.release_reason = reason
    risk.updated_at = now


def release_risk_person(
    session: Session, actor: Actor, risk_person_id: int, reason: str
) -> RiskPerson:
    """Release a risk person with a reason and bring the secondary contacts
    in line: releasing a close contact releases the persons who were
    secondary only through them. Every release goes through here
    (``control.set_risk_status`` calls it)."""
    require(actor, Permission.TRACING_MANAGE)
    if reason not in RELEASE_REASONS[1:]:
        raise InvalidInput("reason", f"a release reason is one of {', '.join(RELEASE_REASONS[1:])}")
    risk = session.get(RiskPerson, risk_person_id)
    ensure_in_scope(actor, risk.region_code if risk else None, "risk person")
    assert risk is not None
    if risk.status == "released":
        raise Conflict("该风险人员已解除 (the risk person is already released)")
    before = risk.status
    end_risk_record(risk, reason, clock.now())
    refreshed = update_secondary_contacts_around(session, [risk.person_id])
    record_audit(
        session,
        actor,
        "risk_person.release",
        "risk_person",
        risk.id,
        risk.region_code,
        {
            "status": [before, "released"],
            "reason": reason,
            "secondary_added": refreshed.added,
            "secondary_released": refreshed.released,
        },
    )
    session.commit()
    return risk

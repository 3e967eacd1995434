"""Writing a secondary-contact refresh plan (:func:`fangkong.tracing.graph.plan_refresh`):
the records it makes, raises, reopens or lets go, their sources, and the
audit events of the records that changed. In bulk for the whole graph
(rows made here, written by ``COPY``, ids reserved up front, other changes by
set-based statements), one record at a time through ``note_risk_person`` for
the step around a few persons. benchmarks/RESULTS.md ("Tracing") has what
each choice was worth."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from fangkong.bulkio import copy_in, copy_out, is_postgres, reserve_ids, staged, timed_text
from fangkong.people.models import Person
from fangkong.policy import get_policy
from fangkong.tracing.graph import (
    CREATE,
    MISSING_TIME,
    NO_CATEGORY,
    REOPEN,
    SECONDARY,
    UPGRADE,
    Ids,
    RefreshPlan,
    Times,
    category_left,
    ids,
)
from fangkong.tracing.graph_read import CATEGORY_BY_RANK, CATEGORY_ORDER, EPOCH, time_of
from fangkong.tracing.risk import note_risk_person
from fangkong.tracing.rules import deadline_for, report_fingerprint

GRAPH_CHANNEL = "investigation"
SOURCE_PREFIX = "close contact person "


def graph_source(close_contact_person_id: int) -> str:
    return f"{SOURCE_PREFIX}{close_contact_person_id}"


Mask = NDArray[np.bool_]
# The risk records a step changed, for their audit events.
CHANGED = pa.schema([("risk_id", pa.int64()), ("region_code", pa.string())])


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


def add_one_by_one(session: Session, plan: RefreshPlan, now: datetime) -> pa.Table:
    """Each new secondary contact through the one-record rule, in the
    registry's region of the person, read with a share lock (in id order)
    as every writer of records does: a registry move cannot slip between
    this read and the write (tracing/registry_moves.py). Returns the records
    (``CHANGED``)."""
    region_of = dict(
        session.execute(
            select(Person.id, Person.region_code)
            .where(Person.id.in_([int(p) for p in plan.add_person_id]))
            .order_by(Person.id)
            .with_for_update(read=True)
        ).all()
    )
    risks = [
        note_risk_person(
            session,
            person_id=int(person_id),
            region_code=region_of[int(person_id)],
            category="secondary",
            channel=GRAPH_CHANNEL,
            source=graph_source(int(close_id)),
            reported_at=now,
            last_exposure_at=time_of(int(last)),
        ).risk_person
        for person_id, close_id, last in zip(
            plan.add_person_id, plan.add_close_contact_id, plan.add_last_exposure_at, strict=True
        )
    ]
    session.flush()
    return pa.table([[r.id for r in risks], [r.region_code for r in risks]], schema=CHANGED)


def add_in_bulk(
    conn: Connection, plan: RefreshPlan, regions: pa.Array, now: datetime
) -> tuple[pa.Table, pa.Table]:
    """The one-record rule of ``note_risk_person`` for many persons at once:
    a new record, a companion or general contact raised (the deadline only
    brought forward), a released record opened again; each with a source
    naming the close contact unless the record holds that report already.
    Rows are made here and written by ``COPY``, not by statements that join
    the tables again, and the new records' sources are hashed while the
    server writes the records (benchmarks/RESULTS.md, "Tracing"). Returns
    the records that were held and those made (``CHANGED`` each); ``regions``
    are the plan's persons' current regions, which their exposures carry."""
    creating = plan.add_action == CREATE
    with ThreadPoolExecutor(1) as worker:
        reports = worker.submit(_graph_reports, plan.add_close_contact_id[creating], now)
        held = _raise_and_reopen(conn, plan, ~creating, now)
        made = _create_records(conn, plan, creating, regions.filter(pa.array(creating)), now)
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
        timed_text(
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
        timed_text(
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
    conn: Connection, plan: RefreshPlan, rows: Mask, regions: pa.Array, now: datetime
) -> pa.Table:
    """New secondary-contact records, to be found, for the plan's ``rows``
    (persons without a record), in ``regions`` (their persons'). Their ids
    are reserved here, so their sources need not read them back. Returns
    them (``CHANGED``)."""
    person_id = pa.array(plan.add_person_id[rows], pa.int64())
    records = pa.table([reserve_ids(conn, "risk_person", len(person_id)), regions], schema=CHANGED)
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


def settle_leaving(conn: Connection, plan: RefreshPlan, now: datetime) -> pa.Table:
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
        timed_text(
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
            timed_text(
                """UPDATE risk_person SET category = :category, measure = :measure,
                    updated_at = :now
                WHERE id IN (SELECT risk_id FROM stage_graph_next
                             WHERE category = :category)""",
                "now",
            ),
            {"now": now, "category": category, "measure": policy.measure_for(category)},
        )


ADDED_CHANGES = {"category": "secondary", "reason": "exposed to an active close contact"}
LEFT_CHANGES = {
    "secondary": "ended",
    "reason": "no active close contact exposed them",
}


def audit_graph_changes(
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

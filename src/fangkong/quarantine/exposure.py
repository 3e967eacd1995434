"""The exposure event of each risk person, and what placement needs to know
of them, read in bulk for a batch.

The *exposure key* names the event that brought a person to quarantine, so
that persons of different events never share a room:

- ``person:<id>`` — the person they were exposed to, from the earliest
  recorded exposure edge of the tracing graph (a case for a close contact,
  the close contact for a secondary contact);
- ``source:<channel>:<source>`` — without an edge, their earliest report
  (the screening list, the request, the push that named them); a long
  source is shortened with a digest so the key fits its 80 characters;
- ``risk:<id>`` — a report that names no source: the person is an event of
  their own.

The batch's ids are staged in a temporary table, so thousands of persons
cost one query, not one each.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import NamedTuple

import pyarrow as pa
from sqlalchemy import Connection, text

from fangkong.bulkio import is_postgres, raw_time, staged

KEY_LENGTH = 80


class RiskFacts(NamedTuple):  # a named tuple: a batch reads tens of thousands
    risk_person_id: int
    person_id: int
    region_code: str
    category: str
    measure: str
    status: str
    last_exposure_at: datetime | None
    household_id: int | None
    birth_date: date | None
    exposure_key: str
    in_stay: bool  # has a stay in force


def exposure_key(
    risk_person_id: int, source_person_id: int | None, channel: str | None, source: str | None
) -> str:
    if source_person_id is not None:
        return f"person:{source_person_id}"
    if channel and source and source.strip():
        key = f"source:{channel}:{source.strip()}"
        if len(key) > KEY_LENGTH:
            digest = hashlib.sha1(key.encode()).hexdigest()[:16]
            key = f"{key[: KEY_LENGTH - 17]}#{digest}"
        return key
    return f"risk:{risk_person_id}"


def lock_risk_persons(conn: Connection, stage: str) -> None:
    """Hold the staged risk persons until the transaction ends (PostgreSQL;
    SQLite's write lock serialises writers anyway)."""
    if is_postgres(conn):
        conn.execute(
            text(
                f"SELECT r.id FROM risk_person r JOIN {stage} s ON s.risk_person_id = r.id "
                "JOIN person p ON p.id = r.person_id "
                "ORDER BY r.id FOR UPDATE OF r FOR KEY SHARE OF p"
            )
        ).all()


def read_facts(conn: Connection, stage: str) -> list[RiskFacts]:
    """The facts of the risk persons staged in ``stage`` (column
    ``risk_person_id``), in risk-person order."""
    rows = conn.execute(
        text(
            f"""WITH edges AS (
                SELECT e.person_id, e.source_person_id,
                    ROW_NUMBER() OVER (
                        PARTITION BY e.person_id ORDER BY e.recorded_at, e.id) AS n
                FROM exposure e
                JOIN risk_person r ON r.person_id = e.person_id
                JOIN {stage} s ON s.risk_person_id = r.id
            ), sources AS (
                SELECT rs.risk_person_id, rs.channel, rs.source,
                    ROW_NUMBER() OVER (
                        PARTITION BY rs.risk_person_id ORDER BY rs.reported_at, rs.id) AS n
                FROM risk_source rs JOIN {stage} s ON s.risk_person_id = rs.risk_person_id
            )
            SELECT r.id, r.person_id, r.region_code, r.category, r.measure, r.status,
                r.last_exposure_at, p.household_id, p.birth_date,
                e.source_person_id, so.channel, so.source,
                EXISTS (SELECT 1 FROM stay st
                        WHERE st.person_id = r.person_id AND st.ended_at IS NULL)
            FROM risk_person r
            JOIN {stage} s ON s.risk_person_id = r.id
            JOIN person p ON p.id = r.person_id
            LEFT JOIN edges e ON e.person_id = r.person_id AND e.n = 1
            LEFT JOIN sources so ON so.risk_person_id = r.id AND so.n = 1
            ORDER BY r.id"""
        )
    ).all()
    if is_postgres(conn):  # the driver's types already: ints, aware times, dates
        return [
            RiskFacts(
                rid,
                pid,
                region,
                category,
                measure,
                status,
                exposed,
                household,
                born,
                f"person:{source}" if source is not None else exposure_key(rid, None, ch, src),
                in_stay,
            )
            for (
                rid,
                pid,
                region,
                category,
                measure,
                status,
                exposed,
                household,
                born,
                source,
                ch,
                src,
                in_stay,
            ) in rows
        ]
    return [
        RiskFacts(
            risk_person_id=int(row[0]),
            person_id=int(row[1]),
            region_code=row[2],
            category=row[3],
            measure=row[4],
            status=row[5],
            last_exposure_at=_moment(row[6]),
            household_id=None if row[7] is None else int(row[7]),
            birth_date=_day(row[8]),
            exposure_key=exposure_key(int(row[0]), row[9], row[10], row[11]),
            in_stay=bool(row[12]),
        )
        for row in rows
    ]


def facts_of(
    conn: Connection, risk_person_ids: list[int], *, lock: bool = False
) -> list[RiskFacts]:
    """:func:`read_facts` for a list of ids (staged here)."""
    ids = pa.table({"risk_person_id": pa.array(sorted(set(risk_person_ids)), pa.int64())})
    with staged(conn, "stage_exposure", "risk_person_id BIGINT", ids) as stage:
        if lock:
            lock_risk_persons(conn, stage)
        return read_facts(conn, stage)


def _moment(value: object) -> datetime | None:
    return None if value is None else raw_time(value)


def _day(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))

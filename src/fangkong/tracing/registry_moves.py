"""Tracing follows the registry: when a registry import moves a person to
another community, the exposures naming them as the exposed person and
their risk record move with them, so the community where they live now
finds them and sees their history (the same rule that puts a new record
in the registry's region of its person). A released record moves too: it
is the person's one record, and opened again it must be found where they
live. Cases, sources and stays keep the region of the day they were
written (a stay is kept where its measure is carried out).

The registry import calls :func:`follow_registry_moves` inside its own
transaction with the persons whose region it changed; it is the only
writer that moves a person. With it, every exposure carries the current
region of its exposed person, which the whole-graph refresh reads instead
of looking each new secondary contact up in the registry
(:mod:`fangkong.tracing.graph_write`). The writers of exposures read the
person with a share lock, so a move cannot slip between their read and
their write; the tracing and quarantine tests check both promises after
each test."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pyarrow as pa
from sqlalchemy import text
from sqlalchemy.orm import Session

from fangkong.access.rules import covers
from fangkong.access.service import Actor, record_audits
from fangkong.bulkio import key_text, lock_for_append, staged, timed_text
from fangkong.db import forget_loaded
from fangkong.tracing.models import Exposure, RiskPerson

MOVED_RECORDS = "risk_id BIGINT PRIMARY KEY, region_code {key}, unassign BOOLEAN NOT NULL"


def follow_registry_moves(
    session: Session,
    actor: Actor,
    moved: Mapping[int, str],
    *,
    import_batch: int,
    now: datetime,
) -> int:
    """Move the exposures and the risk records of the ``moved`` persons
    (person id -> new region code) to their new regions: one audit event
    per record moved, in its new region; a record assigned to a worker who
    cannot see the new region is no longer assigned. A step of the registry
    import: adds to its transaction, does not commit. Returns the number of
    risk records moved."""
    if not moved:
        return 0
    conn = session.connection()
    # The same rows for the read and the writes below; a whole-graph refresh
    # or a channel import in progress finishes first.
    lock_for_append(conn, ["exposure", "risk_person"])
    persons = pa.table(
        {
            "person_id": pa.array(list(moved), pa.int64()),
            "region_code": pa.array(list(moved.values()), pa.string()),
        }
    )
    key = key_text(conn)
    with staged(conn, "stage_moved", f"person_id BIGINT PRIMARY KEY, region_code {key}", persons):
        conn.execute(
            text(
                """UPDATE exposure SET region_code = m.region_code FROM stage_moved m
                WHERE m.person_id = exposure.person_id AND exposure.region_code <> m.region_code"""
            )
        )
        records = conn.execute(
            text(
                """SELECT r.id, r.region_code, m.region_code, r.assigned_to, u.jurisdiction
                FROM risk_person r JOIN stage_moved m ON m.person_id = r.person_id
                LEFT JOIN user_account u ON u.id = r.assigned_to
                WHERE r.region_code <> m.region_code"""
            )
        ).all()
    if not records:
        return 0
    unassigned = {
        risk_id
        for risk_id, _, new, assignee, jurisdiction in records
        if assignee is not None and not covers(jurisdiction or "", new)
    }
    rows = pa.table(
        {
            "risk_id": pa.array([r[0] for r in records], pa.int64()),
            "region_code": pa.array([r[2] for r in records], pa.string()),
            "unassign": pa.array([r[0] in unassigned for r in records], pa.bool_()),
        }
    )
    with staged(conn, "stage_moved_records", MOVED_RECORDS.format(key=key), rows):
        conn.execute(
            timed_text(
                """UPDATE risk_person SET region_code = m.region_code, updated_at = :now,
                    assigned_to = CASE WHEN m.unassign THEN NULL ELSE assigned_to END
                FROM stage_moved_records m WHERE m.risk_id = risk_person.id""",
                "now",
            ),
            {"now": now},
        )
    record_audits(
        session,
        actor,
        "risk_person.region",
        "risk_person",
        (
            (
                risk_id,
                new,
                {
                    "region_code": [old, new],
                    "reason": "the registry moved the person",
                    "import_batch": import_batch,
                    **({"assigned_to": [assignee, None]} if risk_id in unassigned else {}),
                },
            )
            for risk_id, old, new, assignee, _ in records
        ),
        at=now,
    )
    forget_loaded(session, RiskPerson, Exposure)
    return len(records)

"""Tracing follows the registry: when a registry import moves a person to
another community, the exposures naming them as the exposed person and
their open risk record move with them, so the community where they live
now finds them (the same rule that puts a new record in the registry's
region of its person). A released record stays where it was closed: it
is history. Cases, sources and stays keep the region of the day they were
written.

The registry import calls :func:`follow_registry_moves` inside its own
transaction with the persons whose region it changed; it is the only
writer that moves a person. With it, every exposure carries the current
region of its exposed person, which the whole-graph refresh reads instead
of looking each new secondary contact up in the registry
(:mod:`fangkong.tracing.graph_write`; the tests check the invariant after
every test that used a database)."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
from sqlalchemy import bindparam, insert, text
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.bulkio import key_text, staged
from fangkong.db import UtcDateTime


def follow_registry_moves(
    session: Session, actor: Actor, moved: Mapping[int, str], *, import_batch: int
) -> int:
    """Move the exposures and the open risk records of the ``moved`` persons
    (person id -> new region code) to their new regions, one audit event
    per risk record moved, in its new region. A step of the registry
    import: adds to its transaction, does not commit. Returns the number of
    risk records moved."""
    if not moved:
        return 0
    conn = session.connection()
    now = clock.now()
    rows = pa.table(
        {
            "person_id": pa.array(list(moved), pa.int64()),
            "region_code": pa.array(list(moved.values()), pa.string()),
        }
    )
    columns = f"person_id BIGINT PRIMARY KEY, region_code {key_text(conn)}"
    with staged(conn, "stage_moved", columns, rows):
        conn.execute(
            text(
                """UPDATE exposure SET region_code = (SELECT m.region_code FROM stage_moved m
                    WHERE m.person_id = exposure.person_id)
                WHERE person_id IN (SELECT person_id FROM stage_moved)"""
            )
        )
        records = conn.execute(
            text(
                """SELECT r.id, r.region_code, m.region_code FROM risk_person r
                JOIN stage_moved m ON m.person_id = r.person_id
                WHERE r.status <> 'released' AND r.region_code <> m.region_code"""
            )
        ).all()
        conn.execute(
            text(
                """UPDATE risk_person SET region_code = (SELECT m.region_code FROM stage_moved m
                    WHERE m.person_id = risk_person.person_id), updated_at = :now
                WHERE status <> 'released' AND person_id IN (SELECT person_id FROM stage_moved)
                    AND region_code <> (SELECT m.region_code FROM stage_moved m
                        WHERE m.person_id = risk_person.person_id)"""
            ).bindparams(bindparam("now", type_=UtcDateTime())),
            {"now": now},
        )
    if records:
        session.execute(
            insert(AuditEvent),
            [
                {
                    "at": now,
                    "actor_id": actor.user_id,
                    "actor_label": actor.username,
                    "action": "risk_person.region",
                    "object_type": "risk_person",
                    "object_id": str(risk_id),
                    "region_code": new,
                    "changes": {
                        "region_code": [old, new],
                        "reason": "the registry moved the person",
                        "import_batch": import_batch,
                    },
                }
                for risk_id, old, new in records
            ],
        )
    return len(records)

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
(:mod:`fangkong.tracing.graph_write`). The writers of exposures and of
risk records read the person with a share lock
(:func:`fangkong.people.service.person_held`), so a move cannot slip
between their read and
their write; the tracing and quarantine tests check both promises after
each test. Exposures have no audit event of their own: they are facts of
an investigation, and a move is the import's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pyarrow as pa
from sqlalchemy import text
from sqlalchemy.orm import Session

from fangkong.access.service import Actor, record_audits
from fangkong.bulkio import key_text, staged, timed_text
from fangkong.db import forget_loaded
from fangkong.tracing.models import Exposure, RiskPerson

# A record assigned to a worker who cannot see its new community is no
# longer assigned (a jurisdiction is a prefix of the region codes it covers).
UNASSIGN_UNSEEN = """CASE WHEN risk_person.assigned_to IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM user_account u WHERE u.id = risk_person.assigned_to
    AND substr(m.region_code, 1, length(u.jurisdiction)) = u.jurisdiction)
THEN NULL ELSE risk_person.assigned_to END"""


def follow_registry_moves(
    session: Session,
    actor: Actor,
    moved: Mapping[int, tuple[str, str]],
    *,
    import_batch: int,
    now: datetime,
) -> int:
    """Move the exposures and the risk records of the ``moved`` persons
    (person id -> (old, new) region code) to their new regions: one audit
    event per record moved, in its new region; a record assigned to a
    worker who cannot see the new region is no longer assigned. A step of
    the registry import: adds to its transaction, does not commit. Returns
    the number of risk records moved.

    No table lock: the import holds the moved persons' rows (its update),
    the writers of exposures and records hold theirs with a share lock
    first, and a whole-graph refresh in progress holds ``risk_person``, so
    the update below waits for it and then moves the records it made; the
    audit follows what the update returns."""
    if not moved:
        return 0
    conn = session.connection()
    persons = pa.table(
        {
            "person_id": pa.array(list(moved), pa.int64()),
            "region_code": pa.array([new for _, new in moved.values()], pa.string()),
        }
    )
    columns = f"person_id BIGINT PRIMARY KEY, region_code {key_text(conn)}"
    with staged(conn, "stage_moved", columns, persons):
        conn.execute(
            text(
                """UPDATE exposure SET region_code = m.region_code FROM stage_moved m
                WHERE m.person_id = exposure.person_id AND exposure.region_code <> m.region_code"""
            )
        )
        assignees: dict[int, int] = dict(
            conn.execute(
                text(
                    """SELECT r.id, r.assigned_to FROM risk_person r
                    JOIN stage_moved m ON m.person_id = r.person_id
                    WHERE r.assigned_to IS NOT NULL AND r.region_code <> m.region_code"""
                )
            ).all()
        )
        records = conn.execute(
            timed_text(
                f"""UPDATE risk_person SET region_code = m.region_code, updated_at = :now,
                    assigned_to = {UNASSIGN_UNSEEN}
                FROM stage_moved m
                WHERE m.person_id = risk_person.person_id
                    AND risk_person.region_code <> m.region_code
                RETURNING risk_person.id, risk_person.person_id, risk_person.assigned_to""",
                "now",
            ),
            {"now": now},
        ).all()
    forget_loaded(session, RiskPerson, Exposure)
    record_audits(
        session,
        actor,
        "risk_person.region",
        "risk_person",
        (
            (
                risk_id,
                moved[person_id][1],
                {
                    "region_code": list(moved[person_id]),
                    "reason": "the registry moved the person",
                    "import_batch": import_batch,
                    **_unassigned(assignees.get(risk_id), assigned_to),
                },
            )
            for risk_id, person_id, assigned_to in sorted(records)
        ),
        at=now,
    )
    return len(records)


def _unassigned(before: int | None, after: int | None) -> dict[str, list[int | None]]:
    return {"assigned_to": [before, None]} if before is not None and after is None else {}

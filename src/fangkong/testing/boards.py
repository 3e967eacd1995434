"""Read models for the lab board that the figures in :mod:`coverage` do not
give: tubes whose results conflict, with every result received."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require, scope
from fangkong.testing.models import LabResult, Tube
from fangkong.testing.rounds import get_round


@dataclass(frozen=True)
class ResultLine:
    id: int
    result: str
    ct_orf1ab: float | None
    ct_n: float | None
    lab: str
    tested_at: datetime


@dataclass(frozen=True)
class ConflictingTube:
    barcode: str
    pool_size: int
    standing: str | None
    results: list[ResultLine]


def conflicting_tubes(
    session: Session, actor: Actor, round_id: int, limit: int = 200
) -> list[ConflictingTube]:
    """Tubes flagged for a person to settle: the result that stands for now
    and all that were received."""
    require(actor, Permission.TESTING_READ)
    get_round(session, actor, round_id)
    tubes = session.scalars(
        scope(
            select(Tube).where(Tube.round_id == round_id, Tube.conflict.is_(True)),
            Tube.region_code,
            actor,
        )
        .order_by(Tube.result_at)
        .limit(limit)
    ).all()
    lines: dict[int, list[ResultLine]] = {}
    if tubes:
        for r in session.scalars(
            select(LabResult)
            .where(LabResult.tube_id.in_([t.id for t in tubes]))
            .order_by(LabResult.tested_at, LabResult.id)
        ):
            lines.setdefault(r.tube_id, []).append(
                ResultLine(r.id, r.result, r.ct_orf1ab, r.ct_n, r.lab, r.tested_at)
            )
    return [ConflictingTube(t.barcode, t.pool_size, t.result, lines.get(t.id, [])) for t in tubes]

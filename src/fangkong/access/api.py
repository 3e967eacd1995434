"""Who am I, and the audit log, as JSON under ``/api``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from fangkong.access.rules import ROLE_LABELS, Permission, Role
from fangkong.access.service import list_audit
from fangkong.web.deps import CurrentActor, SessionDep

router = APIRouter(prefix="/api", tags=["access"])

Filter = Annotated[str | None, Query(max_length=64)]


class MeOut(BaseModel):
    user_id: int | None
    username: str
    role: str
    role_label: str
    role_label_en: str
    jurisdiction: str
    permissions: list[str]


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_id: int | None
    actor_label: str
    action: str
    object_type: str
    object_id: str
    region_code: str | None
    changes: dict[str, Any]


@router.get("/me", response_model=MeOut)
def api_me(actor: CurrentActor) -> MeOut:
    zh, en = ROLE_LABELS.get(Role(actor.role), (actor.role, actor.role))
    return MeOut(
        user_id=actor.user_id,
        username=actor.username,
        role=actor.role,
        role_label=zh,
        role_label_en=en,
        jurisdiction=actor.jurisdiction,
        permissions=sorted(p.value for p in Permission if actor.can(p)),
    )


@router.get("/audit", response_model=list[AuditOut])
def api_audit(
    session: SessionDep,
    actor: CurrentActor,
    action: Filter = None,
    object_type: Filter = None,
    object_id: Filter = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditOut]:
    """Writes inside the caller's jurisdiction, newest first (audit.read)."""
    events = list_audit(
        session,
        actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        limit=limit,
        offset=offset,
    )
    return [AuditOut.model_validate(e) for e in events]

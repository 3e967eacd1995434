"""The audit log page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from fangkong.access.rules import Permission
from fangkong.access.service import Actor, list_audit
from fangkong.web.deps import CurrentActor, SessionDep
from fangkong.web.nav import NavItem, register
from fangkong.web.render import render

router = APIRouter(include_in_schema=False)
register(NavItem("/audit", "操作日志", "Audit log", Permission.AUDIT_READ, order=90))

PAGE_SIZE = 100
Filter = Annotated[str, Query(max_length=64)]


def audit_context(
    session: Session, actor: Actor, action: str, object_type: str, object_id: str, offset: int
) -> dict[str, Any]:
    events = list_audit(
        session,
        actor,
        action=action or None,
        object_type=object_type or None,
        object_id=object_id or None,
        limit=PAGE_SIZE + 1,
        offset=offset,
    )
    params = {"action": action, "object_type": object_type, "object_id": object_id}
    return {
        "title": "audit.title",
        "events": events[:PAGE_SIZE],
        "more": len(events) > PAGE_SIZE,
        "offset": offset,
        "limit": PAGE_SIZE,
        "params": params,
        **params,
    }


@router.get("/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    action: Filter = "",
    object_type: Filter = "",
    object_id: Filter = "",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    context = audit_context(session, actor, action, object_type, object_id, offset)
    return render(request, "access/audit.html", context)

"""Moving a placed stay (with whoever shares its room under an exception)
to another ready room under the placement's room rules; the room left goes
to cleaning before anyone else is placed in it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, record_audit, require
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.quarantine.facilities import refuse_unless_receiving
from fangkong.quarantine.models import Room, Stay, StayMove
from fangkong.quarantine.scope import get_facility


def transfer_stay(
    session: Session, actor: Actor, stay_id: int, room_id: int, reason: str
) -> list[Stay]:
    """Move a stay to another room, with whoever shares its room under an
    exception; the target must be a ready room with a private bathroom in a
    receiving quarantine site, large enough for them. The room left goes to
    cleaning before anyone else is placed in it."""
    require(actor, Permission.QUARANTINE_STAYS)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason", "say why the person moves")
    stay = session.get(Stay, stay_id, with_for_update=True)
    if stay is None or stay.facility_id is None or stay.room_id is None:
        raise NotFound("stay not found")
    get_facility(session, actor, stay.facility_id)
    if stay.ended_at is not None:
        raise Conflict("this stay has ended")
    if stay.kind != "centralized":
        raise InvalidInput("stay_id", "only a stay in a quarantine room moves to another room")
    lead_id = stay.companion_of or stay.id
    unit = list(
        session.scalars(
            select(Stay)
            .where(
                Stay.room_id == stay.room_id,
                Stay.ended_at.is_(None),
                (Stay.id == lead_id) | (Stay.companion_of == lead_id),
            )
            .order_by(Stay.id)
            .with_for_update()
        )
    )
    room = session.get(Room, room_id, with_for_update=True)
    if room is None:
        raise NotFound("room not found")
    target = get_facility(session, actor, room.facility_id)
    if target.kind != "quarantine_site" or room.kind != "room":
        raise InvalidInput("room_id", "choose a room of a quarantine site")
    if room.id == stay.room_id:
        raise InvalidInput("room_id", "the person is in this room already")
    if room.status != "ready":
        raise Conflict(f"room {room.number} is not ready ({room.status})")
    if not room.private_bathroom:
        raise InvalidInput("room_id", f"room {room.number} has no private bathroom")
    if room.capacity < len(unit):
        raise InvalidInput(
            "room_id", f"room {room.number} holds {room.capacity}; {len(unit)} persons move"
        )
    if target.id != stay.facility_id:
        refuse_unless_receiving(session, target)
    old = session.get(Room, stay.room_id, with_for_update=True)
    assert old is not None
    now = clock.now()
    for moving in unit:
        session.add(
            StayMove(
                stay_id=moving.id,
                from_room_id=old.id,
                to_room_id=room.id,
                reason=reason[:200],
                moved_at=now,
                moved_by=actor.user_id,
            )
        )
        record_audit(
            session,
            actor,
            "stay.transfer",
            "stay",
            moving.id,
            target.region_code,
            {"room_id": [old.id, room.id], "facility_id": [moving.facility_id, target.id]},
        )
        moving.room_id, moving.facility_id, moving.region_code = (
            room.id,
            target.id,
            target.region_code,
        )
    room.status, room.status_at = "occupied", now
    old.status, old.status_at = "cleaning", now
    record_audit(
        session,
        actor,
        "room.status",
        "room",
        old.id,
        old.region_code,
        {"status": ["occupied", "cleaning"]},
    )
    session.commit()
    return unit

"""The quarantine part of ``make demo``, built through the real services on
top of the tracing demo's outbreak:

- a centralized quarantine site in the county (two buildings, 160 rooms),
  inspected and passed, with the demo's facility manager on its staff; a
  second site whose inspection failed (its board says why it cannot
  receive anyone);
- a designated hospital for the city with a mild and a severe ward;
- the close and secondary contacts waiting for a room placed in one batch,
  as a facility manager would; whoever finds no room stays on the list;
- the demo's cases admitted to the hospital.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import User
from fangkong.access.service import SYSTEM, actor_of
from fangkong.quarantine.facilities import (
    add_rooms,
    assign_staff,
    create_facility,
    record_inspection,
)
from fangkong.quarantine.hospitals import admit_case
from fangkong.quarantine.placement import place_batch
from fangkong.quarantine.placement_choices import CandidateFilter, candidate_ids
from fangkong.quarantine.rules import ZONE_CHECKLIST, RoomLayout
from fangkong.regions.models import Region
from fangkong.tracing.models import Case

FACILITY_MANAGER = "facility"


def build_demo_quarantine(session: Session, *, region: str, echo: Callable[[str], None]) -> None:
    community = session.scalar(
        select(Region.code)
        .where(Region.code.startswith(region), Region.level == "village")
        .order_by(Region.code)
        .limit(1)
    )
    manager = session.scalar(select(User).where(User.username == FACILITY_MANAGER))
    if community is None or manager is None:
        echo("no community or facility manager for the quarantine demo; skipped")
        return
    yesterday = clock.today_local() - timedelta(days=1)
    site = create_facility(
        session,
        SYSTEM,
        name="第一集中隔离点（演示）",
        kind="quarantine_site",
        region_code=community,
        address="迎宾路 1 号",
    )
    add_rooms(session, SYSTEM, site.id, RoomLayout("A座", 1, 5, 20))
    add_rooms(session, SYSTEM, site.id, RoomLayout("B座", 1, 3, 20))
    every_item = dict.fromkeys(ZONE_CHECKLIST, True)
    record_inspection(
        session, SYSTEM, site.id, items=every_item, inspected_on=yesterday, inspector="县卫健局"
    )
    assign_staff(session, SYSTEM, site.id, manager.id)
    failing = create_facility(
        session, SYSTEM, name="第二集中隔离点（整改中，演示）", kind="quarantine_site",
        region_code=community,
    )  # fmt: skip
    add_rooms(session, SYSTEM, failing.id, RoomLayout("1号楼", 1, 2, 10))
    record_inspection(
        session,
        SYSTEM,
        failing.id,
        items={**every_item, "two_passages": False},
        inspected_on=yesterday,
        inspector="县卫健局",
        note="工作人员通道与隔离人员通道交叉，整改中",
    )
    hospital = create_facility(
        session,
        SYSTEM,
        name="市定点医院（演示）",
        kind="designated_hospital",
        region_code=region,
    )
    add_rooms(
        session, SYSTEM, hospital.id, RoomLayout("住院楼", 1, 1, 20, kind="bed", ward_level="mild")
    )
    add_rooms(
        session,
        SYSTEM,
        hospital.id,
        RoomLayout("住院楼", 2, 2, 10, kind="bed", ward_level="severe"),
    )
    record_inspection(
        session, SYSTEM, hospital.id, items=every_item, inspected_on=yesterday, inspector="市卫健委"
    )
    facility_manager = actor_of(manager)
    waiting = candidate_ids(session, facility_manager, CandidateFilter())
    placed = place_batch(session, facility_manager, [site.id], waiting)
    for case_id in session.scalars(select(Case.id).order_by(Case.id)):
        admit_case(session, SYSTEM, case_id, hospital.id)
    echo(
        f"quarantine: {placed.placed} of {len(waiting)} persons placed at {site.name}; "
        f"cases admitted to {hospital.name}"
    )

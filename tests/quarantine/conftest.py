"""Fixtures for the quarantine tests: the tracing fixtures (the clock pinned
on 14 March 2022, the small two-county registry, the epidemiologists — see
tests/tracing/conftest.py and tests/testing/conftest.py) plus facilities and
the quarantine cast.

Facilities::

    site      "安次区第一集中隔离点"  quarantine site in A1, building A, floors 1-3,
              10 rooms a floor (301 is the first room of floor 3), inspection passed
    hospital  "廊坊市定点医院"       designated hospital in Anci, 2 wards of 10 beds:
              floor 1 mild, floor 2 severe, inspection passed
    gy_site   a quarantine site of Guangyang, floors 1-2 of 5 rooms, passed

The ``facility_manager`` works for ``site`` only; ``other_facility_manager``
for ``gy_site``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy.orm import Session

from fangkong.access.service import SYSTEM, Actor
from fangkong.quarantine.facilities import (
    add_rooms,
    assign_staff,
    create_facility,
    record_inspection,
)
from fangkong.quarantine.models import Facility
from fangkong.quarantine.rules import ZONE_CHECKLIST, RoomLayout
from tests.testing.conftest import A1, GY, Registry
from tests.tracing.conftest import *  # noqa: F403  (fixtures and registry names)
from tests.tracing.conftest import ANCI, GUANGYANG

ALL_HOLD = dict.fromkeys(ZONE_CHECKLIST, True)
INSPECTED_ON = date(2022, 3, 13)


def make_facility(
    session: Session,
    *,
    name: str,
    kind: str,
    region_code: str,
    layouts: list[RoomLayout],
    passed: bool = True,
) -> Facility:
    facility = create_facility(session, SYSTEM, name=name, kind=kind, region_code=region_code)
    for layout in layouts:
        add_rooms(session, SYSTEM, facility.id, layout)
    items = ALL_HOLD if passed else {**ALL_HOLD, "two_passages": False}
    record_inspection(
        session, SYSTEM, facility.id, items=items, inspected_on=INSPECTED_ON, inspector="市卫健委"
    )
    return facility


@pytest.fixture
def site(session: Session, registry: Registry) -> Facility:
    return make_facility(
        session,
        name="安次区第一集中隔离点",
        kind="quarantine_site",
        region_code=A1,
        layouts=[RoomLayout("A", 1, 3, 10)],
    )


@pytest.fixture
def hospital(session: Session, registry: Registry) -> Facility:
    return make_facility(
        session,
        name="廊坊市定点医院",
        kind="designated_hospital",
        region_code=ANCI,
        layouts=[
            RoomLayout("住院楼", 1, 1, 10, kind="bed", ward_level="mild"),
            RoomLayout("住院楼", 2, 2, 10, kind="bed", ward_level="severe"),
        ],
    )


@pytest.fixture
def gy_site(session: Session, registry: Registry) -> Facility:
    return make_facility(
        session,
        name="广阳区集中隔离点",
        kind="quarantine_site",
        region_code=GY,
        layouts=[RoomLayout("1号楼", 1, 2, 5)],
    )


@pytest.fixture
def facility_manager(session: Session, make_actor: Callable[..., Actor], site: Facility) -> Actor:
    manager = make_actor("facility_manager", ANCI)
    assert manager.user_id is not None
    assign_staff(session, SYSTEM, site.id, manager.user_id)
    return manager


@pytest.fixture
def other_facility_manager(
    session: Session, make_actor: Callable[..., Actor], gy_site: Facility
) -> Actor:
    manager = make_actor("facility_manager", GUANGYANG)
    assert manager.user_id is not None
    assign_staff(session, SYSTEM, gy_site.id, manager.user_id)
    return manager

"""The facility rules, pure (no I/O): the zone-layout checklist a facility
must pass to receive persons, the room layout of a building, and the words
for kinds and statuses.

The checklist follows the Protocol 8th ed. annex on centralized quarantine
sites and the Hebei command centre's demand of March 2022: three zones and
two passages (三区两通道), one person one room one bathroom (一人一间一卫),
closed-loop management and staff protection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ZONE_CHECKLIST: dict[str, tuple[str, str]] = {
    "three_zones": (
        "清洁区、缓冲区、污染区划分明确，标识清楚",
        "clean, buffer and contaminated zones marked apart",
    ),
    "two_passages": (
        "工作人员通道与隔离人员通道分开，互不交叉",
        "separate passages for staff and for persons in quarantine",
    ),
    "private_bathrooms": (
        "隔离房间单人单间、独立卫生间",
        "rooms for one person with a private bathroom",
    ),
    "ventilation": (
        "房间可开窗通风，不使用中央空调回风",
        "rooms ventilated by windows, no shared central air",
    ),
    "sewage_and_waste": (
        "污水消毒处理，医疗废物专区暂存",
        "sewage disinfected, medical waste stored apart",
    ),
    "closed_loop": (
        "闭环管理：出入口管控、工作人员闭环驻点",
        "closed loop: controlled entrances, staff living on site",
    ),
    "staff_protection": (
        "工作人员防护用品充足、培训到位",
        "staff protective equipment and training in place",
    ),
}

FACILITY_KIND_LABELS = {
    "quarantine_site": ("集中隔离点", "centralized quarantine site"),
    "designated_hospital": ("定点医院", "designated hospital"),
    "makeshift_hospital": ("方舱医院", "makeshift hospital"),
}
ROOM_STATUS_LABELS = {
    "ready": ("空闲", "ready"),
    "occupied": ("已入住", "occupied"),
    "cleaning": ("待消杀", "cleaning"),
    "out_of_service": ("停用", "out of service"),
}
HOSPITAL_KINDS = ("designated_hospital", "makeshift_hospital")


@dataclass(frozen=True)
class Inspection:
    passed: bool
    failed_items: tuple[str, ...]  # keys of ZONE_CHECKLIST, in checklist order


def judge_inspection(items: Mapping[str, bool]) -> Inspection:
    """An inspection passes when every checklist item holds. An item left
    out counts as failed: an inspector who did not look did not see it hold.
    Unknown keys are refused by the caller (:func:`unknown_items`)."""
    failed = tuple(key for key in ZONE_CHECKLIST if not items.get(key, False))
    return Inspection(not failed, failed)


def unknown_items(items: Mapping[str, bool]) -> list[str]:
    return sorted(set(items) - set(ZONE_CHECKLIST))


@dataclass(frozen=True)
class RoomLayout:
    """Rooms of one building: ``rooms_per_floor`` rooms on each floor from
    ``first_floor`` to ``last_floor``, numbered floor * 100 + position
    (room 301 is the first of floor 3), as Chinese hotels number them."""

    building: str
    first_floor: int
    last_floor: int
    rooms_per_floor: int
    capacity: int = 1
    private_bathroom: bool = True
    kind: str = "room"
    ward_level: str = ""


@dataclass(frozen=True)
class PlannedRoom:
    building: str
    floor: int
    position: int
    number: str
    capacity: int
    private_bathroom: bool
    kind: str
    ward: str
    ward_level: str


def rooms_of(layout: RoomLayout) -> list[PlannedRoom]:
    """Every room of a layout, floor by floor, in corridor order. For beds,
    each floor is one ward named after its floor (``3F``)."""
    rooms = []
    for floor in range(layout.first_floor, layout.last_floor + 1):
        for position in range(1, layout.rooms_per_floor + 1):
            rooms.append(
                PlannedRoom(
                    building=layout.building,
                    floor=floor,
                    position=position,
                    number=f"{floor * 100 + position}"
                    if layout.rooms_per_floor < 100
                    else f"{floor}-{position:03d}",
                    capacity=layout.capacity,
                    private_bathroom=layout.private_bathroom,
                    kind=layout.kind,
                    ward=f"{floor}F" if layout.kind == "bed" else "",
                    ward_level=layout.ward_level,
                )
            )
    return rooms

"""Addresses of synthetic households: urban communities (社区) live in flats
(building, unit, room), villages (村) at house numbers, in about half of
them on lanes."""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

Addresses = tuple[NDArray[np.object_], NDArray[np.object_], NDArray[np.object_]]
_UNITS: Final = np.array(["", *(f"{u}单元" for u in range(1, 10))], dtype=object)
_ROOMS: Final = np.array([f"{f}{d:02d}" for f in range(100) for d in range(10)], dtype=object)


def _labels(count: int, suffix: str) -> NDArray[np.object_]:
    return np.array(["", *(f"{i}{suffix}" for i in range(1, count + 1))], dtype=object)


def urban_addresses(rng: np.random.Generator, n: int) -> Addresses:
    """Flats in buildings: building, unit and room of n households, in order."""
    occupancy = 0.75 + 0.2 * rng.random()
    layouts: list[tuple[int, int, int]] = []  # units, floors, flats per floor
    capacity = 0
    while capacity < n / occupancy or not layouts:
        floors = int(rng.choice([6, 6, 6, 7, 11, 11, 18, 18, 26, 33]))
        units = int(rng.integers(1, 3)) if floors > 11 else int(rng.integers(2, 5))
        per_floor = int(rng.choice([2, 2, 2, 3, 4]))
        layouts.append((units, floors, per_floor))
        capacity += units * floors * per_floor
    slot = np.sort(rng.choice(capacity, size=n, replace=False))
    shape = np.array(layouts, np.int64)
    per_unit = shape[:, 1] * shape[:, 2]
    size = shape[:, 0] * per_unit
    building = np.searchsorted(np.cumsum(size), slot, "right")
    local = slot - (np.cumsum(size) - size)[building]
    unit, rest = np.divmod(local, per_unit[building])
    floor, flat = np.divmod(rest, shape[building, 2])
    return (
        _labels(len(layouts), "号楼")[building + 1],
        _UNITS[unit + 1],
        _ROOMS[(floor + 1) * 10 + flat + 1],
    )


def rural_addresses(rng: np.random.Generator, n: int) -> Addresses:
    """House numbers, on lanes in about half of the villages."""
    houses = max(n, int(n / (0.85 + 0.1 * rng.random())) + 1)
    number = np.sort(rng.choice(houses, size=n, replace=False)) + 1
    lane = np.zeros(n, np.int64)
    if rng.random() < 0.5:
        lane = (number - 1) // int(rng.integers(15, 41)) + 1
    return (
        _labels(int(lane.max()), "巷")[lane],
        _UNITS[np.zeros(n, np.int64)],
        _labels(houses, "号")[number],
    )

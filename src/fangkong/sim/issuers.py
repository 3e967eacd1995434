"""Identity numbers and mobile phones for synthetic persons, unique within
a run.

Identity numbers are 18-digit resident identity numbers with a valid check
digit: the county's address code, the birth date, a sequence number whose
parity gives the sex (odd for men) and the check character. Phones are
valid Chinese mobile numbers under the prefixes of ``PHONE_PREFIXES``.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import numpy as np
from numpy.typing import NDArray

from fangkong.regions.catalog import Level, load_catalog
from fangkong.sim.households import MAX_AGE, Bools, Floats, Ints

# Mobile prefixes (China Mobile, China Unicom, China Telecom) with rough
# weights; every number under them is a valid CN mobile for phonenumbers.
PHONE_PREFIXES: Final[dict[int, float]] = {
    **dict.fromkeys((134, 135, 136, 137, 138, 139, 150, 151, 152, 157, 158, 159), 4.0),
    **dict.fromkeys((182, 183, 187, 188, 198, 147, 178, 184), 2.0),
    **dict.fromkeys((130, 131, 132, 155, 156, 185, 186), 3.0),
    **dict.fromkeys((166, 175, 176), 1.0),
    **dict.fromkeys((133, 153, 180, 181, 189), 3.0),
    **dict.fromkeys((199, 173, 177), 1.5),
}
_SEQ_SLOTS: Final = 499  # sequence numbers per (county, birth date, sex)
_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS: Final = np.array(list("10X98765432"), dtype=object)


def stable_hash(*parts: object) -> int:
    """A 64-bit number fixed by the parts, the same in every process (unlike
    ``hash``): the seeds and salts of a run."""
    text = "|".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64 finaliser: a cheap, well-spread integer hash."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@dataclass(frozen=True)
class Days:
    """Birth dates as day indexes 0..n-1 ending at ``today``."""

    dates: NDArray[np.object_]
    yyyymmdd: Ints
    year: Ints
    weight_sum: Ints  # of the 8 date digits in an identity number


def _weight_sums(numbers: Ints, width: int, first: int) -> Ints:
    """Sum of digit x weight over the ``width`` digits of each number, the
    digits sitting at positions first.. of the identity number."""
    total = np.zeros(len(numbers), np.int64)
    for i in range(width):
        digit = numbers // 10 ** (width - 1 - i) % 10
        total += digit * _ID_WEIGHTS[first + i]
    return total


@functools.cache
def _days(today: date) -> Days:
    n = int(MAX_AGE * 365.2425) + 2
    first = today - timedelta(days=n - 1)
    days = np.arange(np.datetime64(first.isoformat()), np.datetime64(today.isoformat()) + 1)
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    ymd = year * 10000 + month * 100 + day
    return Days(
        dates=np.array(days.astype(date).tolist(), dtype=object),
        yyyymmdd=ymd,
        year=year,
        weight_sum=_weight_sums(ymd, 8, 6),
    )


_SEQ_WEIGHT_SUM: Final = _weight_sums(np.arange(1000), 3, 14)


@functools.cache
def _hebei_counties() -> tuple[tuple[str, ...], Ints]:
    codes = tuple(r.code for r in load_catalog() if r.level is Level.COUNTY and r.code[:2] == "13")
    return codes, _weight_sums(np.array([int(c) for c in codes], np.int64), 6, 0)


class IdentityIssuer:
    """Issues unique identity numbers for one run: per (county, birth date,
    sex) it hands out distinct sequence numbers, starting at an offset that
    depends on the seed and region so that runs rarely collide."""

    def __init__(self, today: date, salt: int) -> None:
        self.days = _days(today)
        self.counties, self.county_weights = _hebei_counties()
        self.index = {c: i for i, c in enumerate(self.counties)}
        self.county_numbers = np.array(self.counties, np.int64)
        self.used = np.zeros(len(self.counties) * len(self.days.dates) * 2, np.uint16)
        self.salt = np.uint64(salt)

    def issue(self, county: Ints, day: Ints, male: Bools) -> list[str]:
        keys = (county * len(self.days.dates) + day) * 2 + male
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        group_start = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1]
        lengths = np.diff(np.r_[group_start, len(keys)])
        rank = np.empty(len(keys), np.int64)
        rank[order] = np.arange(len(keys)) - np.repeat(group_start, lengths)
        taken = self.used[keys].astype(np.int64) + rank
        if taken.max(initial=0) >= _SEQ_SLOTS:
            raise ValueError("more persons of one sex born on one day in one county than fit")
        np.add.at(self.used, keys, 1)
        offset = (_mix(keys.astype(np.uint64) ^ self.salt) % np.uint64(_SEQ_SLOTS)).astype(np.int64)
        v = (offset + taken) % _SEQ_SLOTS
        seq = 2 * v + np.where(male, 1, 2)  # odd for men, even (never 000) for women
        total = self.county_weights[county] + self.days.weight_sum[day] + _SEQ_WEIGHT_SUM[seq]
        check = _CHECK_CHARS[total % 11]
        body = self.county_numbers[county] * 10**11 + self.days.yyyymmdd[day] * 1000 + seq
        return [f"{b}{c}" for b, c in zip(body.tolist(), check.tolist(), strict=True)]


class PhoneIssuer:
    """Mobile numbers unique within a run: the 8 digits after the prefix are
    an affine bijection of a running counter modulo 10**8."""

    def __init__(self, seed: int, salt: int) -> None:
        self.prefixes = np.array(list(PHONE_PREFIXES), np.int64)
        weights = np.array(list(PHONE_PREFIXES.values()))
        self.cum = np.cumsum(weights) / weights.sum()
        step = stable_hash("phone-step", seed) % 10**8 | 1
        self.step = step + 2 if step % 5 == 0 else step
        self.offset = salt % 10**8
        self.count = 0

    def issue(self, u: Floats) -> Ints:
        n = len(u)
        counter = np.arange(self.count, self.count + n, dtype=np.int64)
        self.count += n
        suffix = (counter * self.step + self.offset) % 10**8
        prefix = self.prefixes[np.minimum(np.searchsorted(self.cum, u), len(self.prefixes) - 1)]
        return prefix * 10**8 + suffix

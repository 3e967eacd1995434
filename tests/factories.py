"""Synthetic test data: identity numbers with valid check digits, registry
files. Never real personal data."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from itertools import count

from stdnum.cn import ric

from fangkong.sim.population import HEADERS

PASSWORD = "test-password-123"
ZH_HEADER = list(HEADERS["zh"])
EN_HEADER = list(HEADERS["en"])
_serial = count(1)


def resident_id(
    county: str = "131002",
    born: date = date(1985, 6, 15),
    sex: str = "M",
    serial: int | None = None,
) -> str:
    """A synthetic 18-digit identity number with a correct check digit."""
    n = next(_serial) if serial is None else serial
    seq = (n * 2) % 1000
    seq = seq + 1 if sex == "M" else seq  # odd = male, even = female
    seq = seq % 1000
    if (seq % 2 == 1) != (sex == "M"):
        seq = (seq + 1) % 1000
    body = f"{county}{born:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")  # it ignores the last character


def mobile(n: int) -> str:
    return f"138{n:08d}"


@dataclass
class Row:
    id_number: str = field(default_factory=resident_id)
    name: str = "张三"
    sex: str = "男"
    birth_date: str = "1985-06-15"
    phone: str = ""
    region_code: str = ""
    building: str = "1号楼"
    unit: str = "1单元"
    room: str = "101"
    household: str = ""
    relation: str = "户主"

    def values(self) -> list[str]:
        return [
            self.id_number,
            self.name,
            self.sex,
            self.birth_date,
            self.phone,
            self.region_code,
            self.building,
            self.unit,
            self.room,
            self.household,
            self.relation,
        ]


def person_row(
    region_code: str, n: int, *, sex: str = "M", born: date = date(1985, 6, 15), **overrides: str
) -> Row:
    row = Row(
        id_number=resident_id(region_code[:6], born, sex),
        name=f"测试{n}",
        sex="男" if sex == "M" else "女",
        birth_date=born.isoformat(),
        phone=mobile(n),
        region_code=region_code,
        room=str(100 + n),
    )
    for key, value in overrides.items():
        setattr(row, key, value)
    return row


def registry_csv(
    rows: Iterable[Row | list[str]], header: list[str] | None = None, encoding: str = "utf-8-sig"
) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header or ZH_HEADER)
    for row in rows:
        writer.writerow(row.values() if isinstance(row, Row) else row)
    return buffer.getvalue().encode(encoding)

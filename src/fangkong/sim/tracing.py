"""Synthetic risk-person lists from the four channels, for tests, the demo
and the tracing benchmark. Deterministic for a seed; every person invented.

Who is at risk: persons drawn from a registry (:func:`registry_persons`),
plus a share of persons the registry does not hold (visitors with
identity numbers of other provinces, phones under prefixes the population
generator never issues, so that they match nobody). Each person is found
by one to four channels, as in the field:

- door-to-door screening (基层排查): identity number, name, phone, the
  community and the address; one list per community;
- cross-region requests (区域协查): identity number, phone, name, from a few
  dozen requests of other jurisdictions;
- big-data push (大数据推送): mostly the phone alone, in a few batches;
- self-reports collected offline (群众自报): name and phone, often the
  identity number.

And the dirt of real lists: spaces inside numbers, full-width digits, a
lowercase ``x``, phones written ``+86 138 0000 0000``, names with stray
spaces, identity numbers left out, and the same report sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from fangkong.bulkio import copy_out
from fangkong.sim.sampling import write_csv

COLUMNS: Final = (
    "id_number",
    "phone",
    "name",
    "category",
    "source",
    "reported_at",
    "region_code",
    "address",
    "last_exposure_at",
)
HEADERS_ZH: Final = ("身份证号", "手机号", "姓名", "类别", "来源", "报告时间")
HEADERS_ZH_MORE: Final = ("区划代码", "地址", "末次暴露时间")
CHANNELS: Final = ("screening", "request", "bigdata", "self_report")
CHANNEL_WEIGHTS: Final = (0.35, 0.2, 0.3, 0.15)
CHANNELS_PER_PERSON: Final = (0.55, 0.28, 0.12, 0.05)  # found by 1, 2, 3, 4 channels
RESENT_SHARE: Final = 0.03  # the same report sent twice
VISITOR_COUNTIES: Final = ("110105", "120101", "370102", "410105", "210102")
VISITOR_PHONE_PREFIXES: Final = (191, 192)  # never issued by the population generator
TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
_FULL_WIDTH: Final = str.maketrans("0123456789", "０１２３４５６７８９")
_ID_WEIGHTS: Final = np.array([pow(2, 17 - i, 11) for i in range(17)], np.int64)
_CHECK: Final = np.array(list("10X98765432"), dtype=object)
# Per channel: share with an identity number, with a phone, with a name;
# categories with their weights (close, secondary, companion, general).
_FIELDS: Final = {
    "screening": (0.95, 0.8, 1.0, (0.4, 0.2, 0.0, 0.4)),
    "request": (0.9, 0.7, 1.0, (0.6, 0.4, 0.0, 0.0)),
    "bigdata": (0.15, 1.0, 0.0, (0.1, 0.0, 0.7, 0.2)),
    "self_report": (0.6, 1.0, 1.0, (0.2, 0.0, 0.0, 0.8)),
}
_CATEGORIES: Final = np.array(["close", "secondary", "companion", "general"], dtype=object)
_CATEGORY_WORDS: Final = {"close": "密接", "secondary": "次密接", "general": "一般接触者"}


REGISTRY_SCHEMA: Final = pa.schema(
    [
        ("id_number", pa.string()),
        ("name", pa.string()),
        ("phone", pa.string()),
        ("region_code", pa.string()),
        ("building", pa.string()),
        ("unit", pa.string()),
        ("room", pa.string()),
    ]
)


def registry_persons(conn: Connection, prefix: str, every: int = 1) -> pa.Table:
    """Persons of the registry under ``prefix`` (every ``every``-th by id),
    with their address parts, as :func:`channel_records` takes them; in id
    order, so that a seed draws the same persons every time."""
    if not prefix.isdigit() or every < 1:
        raise ValueError("prefix: digits; every: 1 or more")
    return copy_out(
        conn,
        f"""SELECT p.id_number, p.name, COALESCE(p.phone, ''), p.region_code,
            COALESCE(a.building, ''), COALESCE(a.unit, ''), COALESCE(a.room, '')
        FROM person p LEFT JOIN address a ON a.id = p.address_id
        WHERE p.merged_into_id IS NULL AND p.region_code LIKE '{prefix}%'
            AND p.id_type = 'resident_id' AND p.id % {int(every)} = 0
        ORDER BY p.id""",
        REGISTRY_SCHEMA,
    )


@dataclass(frozen=True)
class Truth:
    """What the lists are made of, to check an import against: the persons
    at risk (registered ones by identity number) and the visitors."""

    registered: pa.Array  # identity numbers of registered persons at risk
    visitors: pa.Table  # id_number ('' for a phone-only visitor), phone, name, region_code


def channel_records(
    persons: pa.Table,
    *,
    records: int,
    seed: int,
    reported_from: datetime,
    hours: float = 24,
    visitor_share: float = 0.06,
) -> tuple[dict[str, pa.Table], Truth]:
    """About ``records`` channel records (columns ``COLUMNS``, all text,
    times local as ``TIME_FORMAT``), per channel, from ``persons`` (the
    columns of :func:`registry_persons`); ``reported_from`` is local time
    (naive) and reports spread over ``hours`` after it."""
    rng = np.random.default_rng(seed)
    mean_channels = float(np.dot(CHANNELS_PER_PERSON, np.arange(1, 5)))
    at_risk = max(1, round(records / (mean_channels * (1 + RESENT_SHARE))))
    visitors = min(at_risk, round(at_risk * visitor_share))
    known = min(at_risk - visitors, persons.num_rows)
    chosen = persons.take(pa.array(np.sort(rng.choice(persons.num_rows, known, replace=False))))
    people = pa.concat_tables([_national_phones(chosen), _visitors(rng, persons, visitors)])
    lists = _channel_lists(rng, people, reported_from, hours)
    truth = Truth(chosen.column("id_number").combine_chunks(), people.slice(known))
    return lists, truth


def _national_phones(persons: pa.Table) -> pa.Table:
    """The registry's E.164 phones as people write them (11 digits)."""
    phone = pc.replace_substring_regex(persons.column("phone"), r"^\+86", "")
    return persons.set_column(persons.schema.get_field_index("phone"), "phone", phone)


def _visitors(rng: np.random.Generator, persons: pa.Table, count: int) -> pa.Table:
    """Persons the registry does not hold, living (for now) in its communities."""
    # county, sequence and birth day fixed by the index: every number differs
    index = np.arange(count)
    block = len(VISITOR_COUNTIES) * 1000
    counties = np.array(VISITOR_COUNTIES, dtype=object)[index % len(VISITOR_COUNTIES)]
    sequence = (index // len(VISITOR_COUNTIES)) % 1000
    day = rng.permutation(365 * 55)[(index // block) % (365 * 55)]
    days = np.datetime_as_string(np.datetime64("1950-01-01") + day.astype("timedelta64[D]"))
    body = [
        f"{c}{d.replace('-', '')}{s:03d}"
        for c, d, s in zip(counties.tolist(), days.tolist(), sequence.tolist(), strict=True)
    ]
    digits = np.array([[ord(ch) - 48 for ch in b] for b in body], np.int64).reshape(count, 17)
    checks = _CHECK[(digits @ _ID_WEIGHTS) % 11] if count else np.array([], object)
    ids = np.array([b + c for b, c in zip(body, checks.tolist(), strict=True)], dtype=object)
    ids[rng.random(count) < 0.1] = ""  # known by the phone alone
    prefix = rng.choice(np.array(VISITOR_PHONE_PREFIXES), count)
    numbers = prefix * 10**8 + rng.permutation(10**6)[np.arange(count) % 10**6] * 97 % 10**8
    where = rng.integers(0, max(persons.num_rows, 1), count)
    names = persons.column("name").take(pa.array(rng.integers(0, persons.num_rows, count)))
    return pa.table(
        {
            "id_number": pa.array(ids.tolist(), pa.string()),
            "name": names,
            "phone": pa.array([str(n) for n in numbers.tolist()], pa.string()),
            "region_code": persons.column("region_code").take(pa.array(where)),
            "building": pa.array([""] * count, pa.string()),
            "unit": pa.array([""] * count, pa.string()),
            "room": pa.array([""] * count, pa.string()),
        }
    )


def _channel_lists(
    rng: np.random.Generator, people: pa.Table, start: datetime, hours: float
) -> dict[str, pa.Table]:
    """Each person's channels (one to four, weighted), then each channel's rows."""
    n = people.num_rows
    how_many = rng.choice(np.arange(1, 5), n, p=CHANNELS_PER_PERSON)
    keys = rng.random((n, 4)) ** (1 / np.array(CHANNEL_WEIGHTS))  # weighted order
    order = np.argsort(-keys, axis=1)
    lists = {}
    for c, channel in enumerate(CHANNELS):
        found = np.flatnonzero((order[:, :4] == c).argmax(axis=1) < how_many)
        lists[channel] = _rows(rng, channel, people.take(pa.array(found)), start, hours)
    return lists


def _rows(
    rng: np.random.Generator, channel: str, people: pa.Table, start: datetime, hours: float
) -> pa.Table:
    n = people.num_rows
    with_id, with_phone, with_name, weights = _FIELDS[channel]
    ids = np.array(people.column("id_number").to_pylist(), dtype=object)
    phones = np.array(people.column("phone").to_pylist(), dtype=object)
    keep_id = (rng.random(n) < with_id) | (phones == "")
    phones[(rng.random(n) >= with_phone) & keep_id & (ids != "")] = ""
    ids[~keep_id] = ""
    names = np.array(people.column("name").to_pylist(), dtype=object)
    names[rng.random(n) >= with_name] = ""
    category = _CATEGORIES[rng.choice(4, n, p=weights)]
    words = rng.random(n) < 0.3  # written in Chinese
    category = np.array(
        [_CATEGORY_WORDS.get(c, c) if w else c for c, w in zip(category, words, strict=True)],
        dtype=object,
    )
    seconds = np.sort(rng.random(n) * hours * 3600).astype("timedelta64[s]")
    reported = np.datetime64(start.replace(tzinfo=None), "s") + seconds
    exposed = reported - rng.integers(3600, 5 * 86400, n).astype("timedelta64[s]")
    exposure = np.where(rng.random(n) < 0.5, np.datetime_as_string(exposed).astype(object), "")
    local = np.full(n, channel == "screening")
    region = np.where(local, people.column("region_code").to_numpy(zero_copy_only=False), "")
    address = pc.binary_join_element_wise(
        people.column("building"), people.column("unit"), people.column("room"), ""
    ).to_numpy(zero_copy_only=False)
    table = pa.table(
        {
            "id_number": pa.array(_dirty_ids(rng, ids).tolist(), pa.string()),
            "phone": pa.array(_dirty_phones(rng, phones).tolist(), pa.string()),
            "name": pa.array(_dirty_names(rng, names).tolist(), pa.string()),
            "category": pa.array(category.tolist(), pa.string()),
            "source": pa.array(_sources(rng, channel, people, n).tolist(), pa.string()),
            "reported_at": pa.array(np.datetime_as_string(reported).astype(object).tolist()),
            "region_code": pa.array(region.astype(object).tolist(), pa.string()),
            "address": pa.array(np.where(local, address, "").astype(object).tolist(), pa.string()),
            "last_exposure_at": pa.array(exposure.tolist(), pa.string()),
        }
    )
    table = table.set_column(5, "reported_at", _spaced_time(table.column("reported_at")))
    table = table.set_column(8, "last_exposure_at", _spaced_time(table.column("last_exposure_at")))
    resent = np.flatnonzero(rng.random(n) < RESENT_SHARE)
    return pa.concat_tables([table, table.take(pa.array(resent))])


def _spaced_time(values: pa.ChunkedArray) -> pa.Array:
    """NumPy's '2022-03-14T08:30:00' as people write it: '2022-03-14 08:30:00'."""
    return pc.replace_substring(values, "T", " ")


def _sources(rng: np.random.Generator, channel: str, people: pa.Table, n: int) -> np.ndarray:
    if channel == "screening":
        regions = np.array(people.column("region_code").to_pylist(), dtype=object)
        return np.array([f"社区排查 {r}" for r in regions], dtype=object)
    if channel == "request":
        senders = rng.choice(np.array((*VISITOR_COUNTIES, "130102", "130602")), n)
        numbers = rng.integers(1, 40, n)
        return np.array([f"协查函 {s} 第{k}号" for s, k in zip(senders, numbers, strict=True)])
    if channel == "bigdata":
        return np.array([f"大数据推送 第{k}批" for k in rng.integers(1, 8, n)], dtype=object)
    return rng.choice(np.array(["群众自报 热线", "群众自报 小程序"], dtype=object), n)


def _dirty_ids(rng: np.random.Generator, ids: np.ndarray) -> np.ndarray:
    out = ids.copy()
    for i in np.flatnonzero((rng.random(len(ids)) < 0.05) & (ids != "")):
        out[i] = f"{ids[i][:6]} {ids[i][6:14]} {ids[i][14:]}"
    for i in np.flatnonzero((rng.random(len(ids)) < 0.03) & (ids != "")):
        out[i] = out[i].translate(_FULL_WIDTH)
    ends_x = np.array([v.endswith("X") for v in out], bool)
    for i in np.flatnonzero(ends_x & (rng.random(len(ids)) < 0.4)):
        out[i] = out[i][:-1] + "x"
    return out


def _dirty_phones(rng: np.random.Generator, phones: np.ndarray) -> np.ndarray:
    out = phones.copy()
    draw = rng.random(len(phones))
    for i in np.flatnonzero(phones != ""):
        p = phones[i]
        if draw[i] < 0.15:
            out[i] = f"+86 {p}"
        elif draw[i] < 0.25:
            out[i] = f"{p[:3]} {p[3:7]} {p[7:]}"
        elif draw[i] < 0.28:
            out[i] = f"+86-{p[:3]}-{p[3:7]}-{p[7:]}"
        elif draw[i] < 0.30:
            out[i] = p.translate(_FULL_WIDTH)
    return out


def _dirty_names(rng: np.random.Generator, names: np.ndarray) -> np.ndarray:
    out = names.copy()
    draw = rng.random(len(names))
    for i in np.flatnonzero((names != "") & (draw < 0.07)):
        name = names[i]
        out[i] = f" {name} " if draw[i] < 0.05 else f"{name[:1]} {name[1:]}"
    return out


def write_channel_file(table: pa.Table, path: Path, *, chinese_headers: bool = False) -> None:
    """A channel's list as a spreadsheet saves it (CSV, UTF-8 with a BOM)."""
    if chinese_headers:
        table = table.rename_columns([*HEADERS_ZH, *HEADERS_ZH_MORE])
    write_csv(table, path)

"""What every file import shares, whatever its records: which column holds
which field (Chinese or English headers, with the noise Excel users add),
and the rejected-row record a report is written from."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from fangkong import clock
from fangkong.access.service import Actor, record_audit
from fangkong.db import Base, UtcDateTime, code_type
from fangkong.errors import UnreadableFile
from fangkong.tabular import StringTable

REPORT_COLUMNS = ("原行号 row", "错误列 column", "错误原因", "reason")
BigId = BigInteger().with_variant(Integer, "sqlite")


@dataclass
class ImportCounts:
    """What every file import reports. An import with counts of its own adds
    fields and names them in :meth:`more_counts`, which the summary line
    prints after the three every import has."""

    batch_id: int
    accepted: int = 0
    unchanged: int = 0
    rejected: int = 0
    notices: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    def more_counts(self) -> dict[str, int]:
        return {}

    @property
    def summary(self) -> str:
        more = "".join(f", {name} {count}" for name, count in self.more_counts().items())
        return (
            f"accepted {self.accepted}, unchanged {self.unchanged}, rejected {self.rejected}{more}"
        )


class CellCheck:
    """A file's cells under check, column by column: each cell trimmed, and
    every row refused so far with its first reason (a row's later faults are
    not piled on)."""

    def __init__(self, table: StringTable, positions: dict[str, int]) -> None:
        self.table = table
        self.positions = positions
        self.bad = np.zeros(table.num_rows, dtype=bool)
        self.rejects: list[Reject] = []

    def text(self, field_name: str) -> pa.Array:
        """The field's cells, trimmed; all empty when the file lacks it."""
        position = self.positions.get(field_name)
        if position is None:
            return pa.array([""] * self.table.num_rows, pa.string())
        return pc.utf8_trim_whitespace(self.table.columns[position])

    def refuse(
        self, mask: np.ndarray, column: str, values: pa.Array, words: tuple[str, str]
    ) -> None:
        zh, en = words
        for i in np.flatnonzero(mask & ~self.bad):
            row = int(self.table.row_numbers[i])
            self.rejects.append(Reject(row, column, str(values[i].as_py()), zh, en))
        self.bad |= mask


def true_where(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow column as a NumPy mask, nulls false."""
    mask: np.ndarray = np.asarray(
        pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool
    )
    return mask


def empty_cells(values: pa.Array) -> np.ndarray:
    return true_where(pc.fill_null(pc.equal(values, ""), True))


@dataclass(frozen=True)
class Reject:
    """One reason a row was not accepted (a row may have several)."""

    row_number: int
    column: str
    value: str
    reason_zh: str
    reason_en: str


_NOISE = re.compile(r"[\s*＊:：()（）\[\]【】]|必填|选填|required|optional")


def normalize_header(header: str) -> str:
    """'身份证号（必填）' -> '身份证号', ' Phone ' -> 'phone'."""
    return _NOISE.sub("", header.strip().lstrip("\ufeff").lower())


@dataclass(frozen=True)
class ColumnMap:
    """field -> position in the file, and the headers that were ignored."""

    positions: dict[str, int]
    headers: list[str]
    ignored: list[str]


def map_columns(
    headers: list[str], aliases: dict[str, tuple[str, ...]], required: tuple[str, ...]
) -> ColumnMap:
    """Which column holds which field. ``aliases``: field -> accepted headers,
    the first two being the Chinese and English ones Fangkong writes."""
    lookup = {normalize_header(alias): field for field, al in aliases.items() for alias in al}
    labels = {field: (al[0], al[1]) for field, al in aliases.items()}
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, header in enumerate(headers):
        field = lookup.get(normalize_header(header))
        if field is None:
            if header.strip():
                ignored.append(header.strip())
            continue
        if field in positions:
            first = headers[positions[field]].strip()
            raise UnreadableFile(
                f"两列都表示「{labels[field][0]}」: '{first}' 和 '{header.strip()}' "
                f"(two columns mean {labels[field][1]}); keep one"
            )
        positions[field] = index
    missing = [f for f in required if f not in positions]
    if missing:
        wanted = ", ".join(f"{labels[f][0]} ({labels[f][1]})" for f in missing)
        found = ", ".join(h.strip() for h in headers if h.strip()) or "none"
        raise UnreadableFile(
            f"缺少必填列 missing required column(s): {wanted}; columns found: {found}"
        )
    return ColumnMap(positions=positions, headers=headers, ignored=ignored)


class ImportBatch(Base):
    """One run of an import: who, which file (by SHA-256), the counts.
    Persons created by a batch point at it, so a creation is traceable to
    the batch's audit event."""

    __tablename__ = "import_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    jurisdiction: Mapped[str] = mapped_column(code_type(12), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    notices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    headers: Mapped[list[Any]] = mapped_column(JSON, default=list)


class ImportReject(Base):
    """A row an import refused, with the reason, for the rejects report."""

    __tablename__ = "import_reject"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    column: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    row_values: Mapped[list[Any]] = mapped_column(JSON, default=list)


def broken_rejects(table: StringTable) -> list[Reject]:
    return [
        Reject(b.row_number, "(整行 whole row)", b.text, b.reason, b.reason) for b in table.broken
    ]


def save_rejects(
    session: Session, batch_id: int, rejects: list[Reject], table: StringTable
) -> None:
    if not rejects:
        return
    index_of = {int(n): i for i, n in enumerate(table.row_numbers)}
    rows = []
    for reject in rejects:
        index = index_of.get(reject.row_number)
        values = table.row_values(index) if index is not None else [reject.value]
        rows.append(
            {
                "batch_id": batch_id,
                "row_number": reject.row_number,
                "column": reject.column[:64],
                "value": reject.value,
                "reason": f"{reject.reason_zh} | {reject.reason_en}",
                "row_values": values,
            }
        )
    session.execute(insert(ImportReject), rows)


def rejects_report(session: Session, batch: ImportBatch) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a batch's rejects report: the original columns (so
    the file can be fixed and imported again), then row, column and reason.
    The caller checks the actor may see the batch."""
    batch_id = batch.id
    records = session.scalars(
        select(ImportReject)
        .where(ImportReject.batch_id == batch_id)
        .order_by(ImportReject.row_number, ImportReject.id)
    ).all()
    merged: dict[int, list[ImportReject]] = {}
    for record in records:
        merged.setdefault(record.row_number, []).append(record)
    width = len(batch.headers)
    rows = []
    for row_number, items in merged.items():
        values = [str(v) for v in items[0].row_values][:width]
        values += [""] * (width - len(values))
        columns = "; ".join(dict.fromkeys(i.column for i in items))
        reasons = "; ".join(i.reason.split(" | ")[0] for i in items)
        reasons_en = "; ".join(i.reason.split(" | ")[-1] for i in items)
        rows.append([*values, str(row_number), columns, reasons, reasons_en])
    header = [*batch.headers, *REPORT_COLUMNS]
    return header, rows


TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


def parse_local_times(values: pa.Array, zone: str) -> pa.Array:
    """Cells like '2022-03-14 08:30', '2022/3/14 8:30:05' or
    '2022-03-14T08:30:00' in the command centre's time zone, or ISO times
    with an offset ('...+08:00', '...Z'), as UTC timestamps; null where a
    cell is not a time. The regular form is parsed directly; only the other
    cells are rewritten first (a million regular cells take a tenth of a
    second)."""
    text = pc.utf8_trim_whitespace(values)
    local = pc.strptime(text, format=TIME_FORMATS[0], unit="us", error_is_null=True)
    local = pc.if_else(_day_as_written(text, local), local, pa.scalar(None, local.type))
    unparsed = pc.and_(pc.is_null(local), pc.not_equal(text, ""))
    if not pc.any(unparsed).as_py():
        return _as_utc(local, zone)
    return pc.if_else(pc.is_null(local), _parse_irregular(text, zone), _as_utc(local, zone))


def _as_utc(local: pa.Array, zone: str) -> pa.Array:
    aware = pc.assume_timezone(local, zone, ambiguous="earliest", nonexistent="earliest")
    return aware.cast(pa.timestamp("us", "UTC"))


def _parse_irregular(text: pa.Array, zone: str) -> pa.Array:
    with_offset = pc.match_substring_regex(text, r"([+-]\d{2}:?\d{2}|Z)$")
    text = pc.replace_substring_regex(text, r"[/.]", "-")
    text = pc.replace_substring_regex(text, r"^(\d{4})-(\d)-", r"\1-0\2-")
    text = pc.replace_substring_regex(text, r"^(\d{4}-\d{2})-(\d)\b", r"\1-0\2")
    text = pc.replace_substring_regex(text, r"^(\S+)[T ](\d):", r"\1 0\2:")
    text = pc.replace_substring_regex(text, r"^(\S+)T", r"\1 ")
    local: pa.Array = pa.nulls(len(text), pa.timestamp("us"))
    for fmt in TIME_FORMATS:
        parsed = pc.strptime(text, format=fmt, unit="us", error_is_null=True)
        local = pc.coalesce(local, parsed)
    offsets = pc.replace_substring_regex(text, r"Z$", "+0000")
    offsets = pc.replace_substring_regex(offsets, r"([+-]\d{2}):(\d{2})$", r"\1\2")
    explicit = pc.strptime(offsets, format="%Y-%m-%d %H:%M:%S%z", unit="us", error_is_null=True)
    explicit = pc.coalesce(
        explicit, pc.strptime(offsets, format="%Y-%m-%d %H:%M%z", unit="us", error_is_null=True)
    )
    parsed = pc.if_else(with_offset, explicit, _as_utc(local, zone))
    day = pc.strptime(
        pc.utf8_slice_codeunits(text, 0, 10), format="%Y-%m-%d", unit="s", error_is_null=True
    )
    return pc.if_else(_day_as_written(text, day), parsed, pa.scalar(None, parsed.type))


def _day_as_written(text: pa.Array, parsed: pa.Array) -> pa.Array:
    """Whether the day of month of ``parsed`` is the one written at characters
    9-10 of ``text`` ('YYYY-MM-DD ...'): strptime rolls a day that does not
    exist (30 February) into the next month, and such a cell is not a time.
    False also where the date is written otherwise ('2022-3-4 ...')."""
    written = pc.utf8_slice_codeunits(text, 8, 10)
    day = pc.cast(pc.if_else(pc.utf8_is_digit(written), written, "0"), pa.int64())
    return pc.fill_null(pc.equal(pc.day(parsed), day), False)


def open_batch(
    session: Session,
    actor_id: int | None,
    jurisdiction: str,
    *,
    kind: str,
    data: bytes,
    filename: str,
    table: StringTable,
    columns: ColumnMap,
) -> ImportBatch:
    """Record the start of an import (inside the caller's transaction);
    refuses a file with headers and no rows."""
    if table.num_rows == 0 and not table.broken:
        raise UnreadableFile("文件只有表头，没有数据行 (the file has headers but no rows)")
    notices = list(table.notices)
    if columns.ignored:
        notices.append("忽略了不认识的列 ignored unknown columns: " + ", ".join(columns.ignored))
    batch = ImportBatch(
        kind=kind,
        filename=filename[:255],
        sha256=hashlib.sha256(data).hexdigest(),
        actor_id=actor_id,
        jurisdiction=jurisdiction,
        started_at=clock.now(),
        status="running",
        notices=notices,
        headers=list(table.headers),
    )
    session.add(batch)
    session.flush()
    return batch


def close_batch(
    session: Session,
    batch: ImportBatch,
    *,
    accepted: int,
    unchanged: int,
    rejects: list[Reject],
    table: StringTable,
) -> int:
    """Save the rejected rows and the counts; returns the number of rejected
    rows (a row with several reasons counts once)."""
    save_rejects(session, batch.id, rejects, table)
    batch.status = "done"
    batch.finished_at = clock.now()
    batch.accepted, batch.unchanged = accepted, unchanged
    batch.rejected = len({r.row_number for r in rejects})
    return batch.rejected


def finish_import(
    session: Session,
    actor: Actor,
    batch: ImportBatch,
    table: StringTable,
    result: ImportCounts,
    action: str,
    **details: object,
) -> None:
    """The end of a file import, in the caller's transaction: the rejected
    rows and the counts saved with the batch (``result.rejected`` set), and
    one audit event naming the file and every count."""
    result.rejected = close_batch(
        session,
        batch,
        accepted=result.accepted,
        unchanged=result.unchanged,
        rejects=result.rejects,
        table=table,
    )
    counts = {
        name.replace(" ", "_").replace("-", "_"): n for name, n in result.more_counts().items()
    }
    record_audit(
        session,
        actor,
        action,
        "import_batch",
        batch.id,
        actor.jurisdiction or None,
        {
            **details,
            "file": batch.filename,
            "sha256": batch.sha256,
            "accepted": result.accepted,
            "unchanged": result.unchanged,
            "rejected": result.rejected,
            **counts,
        },
    )

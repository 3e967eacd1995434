"""``import_risk_persons``: a list of risk persons from one channel (door-to-
door screening, a cross-region request, a big-data push, self-reports
collected offline), matched to the registry and merged into the risk
persons — in one transaction, with set-based statements (COPY and staged
joins on PostgreSQL, the same SQL on SQLite).

The file ends exactly as :func:`fangkong.tracing.risk.note_risk_person`
called for each matched row in file order would leave it (a test holds the
two equal): one risk person per person however many rows and channels name
them, one source per report (the same report twice is kept once), a more
serious category raises the measure and brings the deadline forward, a
released person reported after the release is to be found again. The one
difference: ``updated_at`` moves only for a risk person that changed, so
that importing the same file again changes nothing at all.

Rows whose person cannot be decided are kept whole as pending matches
(:class:`~fangkong.tracing.models.PendingMatch`, once per record however
often the file comes). The reply gives counts and the file's own rows
only: nothing about a matched person of another jurisdiction is told.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require
from fangkong.bulkio import (
    analyze_after_bulk,
    bulk_cache,
    copy_in,
    copy_out,
    key_text,
    lock_for_append,
    staged,
)
from fangkong.config import get_settings
from fangkong.errors import InvalidInput, NotFound, UnreadableFile
from fangkong.imports import (
    CellCheck,
    ImportBatch,
    ImportCounts,
    Reject,
    broken_rejects,
    empty_cells,
    finish_import,
    map_columns,
    open_batch,
    parse_local_times,
    rejects_report,
    true_where,
)
from fangkong.regions.models import Region
from fangkong.tabular import StringTable, read_table
from fangkong.tracing.match_rules import check_people
from fangkong.tracing.matching import Matched, match_records
from fangkong.tracing.risk_merge import audit_changes, merge_risks, report_fingerprints
from fangkong.tracing.rules import CATEGORY_RANK

IMPORT_CHANNELS = ("screening", "request", "bigdata", "self_report")
BATCH_KIND = "risk_persons"
RISK_COLUMNS: dict[str, tuple[str, ...]] = {
    "id_number": ("身份证号", "id_number", "证件号码", "证件号", "公民身份号码", "identity_number"),
    "phone": ("手机号", "phone", "联系电话", "电话", "手机号码", "mobile"),
    "name": ("姓名", "name"),
    "category": ("类别", "category", "人员类别", "风险类别", "接触类别"),
    "source": ("来源", "source", "信息来源", "报告单位"),
    "reported_at": ("报告时间", "reported_at", "上报时间", "推送时间", "report_time"),
    "region_code": ("区划代码", "region_code", "社区代码", "所在社区代码"),
    "address": ("地址", "address", "住址", "现住址", "居住地址"),
    "last_exposure_at": ("末次暴露时间", "last_exposure_at", "末次接触时间", "最后接触时间"),
    "id_type": ("证件类型", "id_type", "document_type"),
}
REQUIRED = ("category", "source", "reported_at")
CATEGORY_ALIASES = {
    "close": "close",
    "密接": "close",
    "密切接触者": "close",
    "close contact": "close",
    "secondary": "secondary",
    "次密接": "secondary",
    "密接的密接": "secondary",
    "secondary contact": "secondary",
    "companion": "companion",
    "时空伴随者": "companion",
    "时空伴随": "companion",
    "spatiotemporal companion": "companion",
    "general": "general",
    "一般接触者": "general",
    "一般接触": "general",
    "general contact": "general",
}
MAX_SOURCE_CHARS = 200
CLOCK_SKEW_MINUTES = 10  # a sender's clock may run a little ahead


@dataclass
class RiskImportResult(ImportCounts):
    """``accepted``: new sources (reports); ``unchanged``: reports and
    pending records already known."""

    new_risk_persons: int = 0
    new_non_residents: int = 0
    pending: int = 0

    def more_counts(self) -> dict[str, int]:
        return {
            "new risk persons": self.new_risk_persons,
            "new non-residents": self.new_non_residents,
            "pending": self.pending,
        }


def label(field: str) -> str:
    zh, en = RISK_COLUMNS[field][:2]
    return f"{zh} ({en})"


def import_risk_persons(
    session: Session, actor: Actor, data: bytes, filename: str, *, channel: str
) -> RiskImportResult:
    """Import one channel's list of risk persons. Raises ``UnreadableFile``
    when nothing can be read; otherwise returns the counts and the rejected
    rows (every bad cell named with its reason; the good rows are kept)."""
    require(actor, Permission.TRACING_IMPORT)
    if channel not in IMPORT_CHANNELS:
        raise InvalidInput("channel", f"one of {', '.join(IMPORT_CHANNELS)}")
    table = read_table(data, filename)
    columns = map_columns(table.headers, RISK_COLUMNS, REQUIRED)
    if "id_number" not in columns.positions and "phone" not in columns.positions:
        raise UnreadableFile(
            f"缺少必填列 missing required column: {label('id_number')} or {label('phone')}"
        )
    batch = open_batch(
        session,
        actor.user_id,
        actor.jurisdiction,
        kind=BATCH_KIND,
        data=data,
        filename=filename,
        table=table,
        columns=columns,
    )
    result = RiskImportResult(batch_id=batch.id, notices=list(batch.notices))
    cells = _read_cells(session, actor, table, columns.positions)
    good = cells.rows.filter(pa.array(~cells.bad))
    now = clock.now()
    conn = session.connection()
    with bulk_cache(conn):
        lock_for_append(conn, ("person", "risk_person", "risk_source", "pending_match"))
        matched = match_records(conn, good, batch_id=batch.id, now=now)
        result.new_non_residents = int(matched.created.sum())
        _keep_pending(conn, good, matched, actor, channel, batch.id, now, result)
        changes = merge_risks(
            conn, good, matched, channel, batch.id, now, result, actor.jurisdiction
        )
        audit_changes(conn, actor, batch.id, now, changes)
        analyze_after_bulk(conn, ("risk_person", "risk_source"), result.accepted)
    result.rejects = sorted(broken_rejects(table) + cells.rejects, key=lambda r: r.row_number)
    finish_import(session, actor, batch, table, result, "risk_persons.import", channel=channel)
    session.commit()
    return result


def rejects_report_rows(
    session: Session, actor: Actor, batch_id: int
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a risk-person import's rejects report (the file's
    own rows with the reasons)."""
    require(actor, Permission.TRACING_IMPORT)
    batch = session.get(ImportBatch, batch_id)
    if (
        batch is None
        or batch.kind != BATCH_KIND
        or not batch.jurisdiction.startswith(actor.jurisdiction)
    ):
        raise NotFound("import not found")
    return rejects_report(session, batch)


# --- the cells ------------------------------------------------------------------------


@dataclass
class _Cells:
    rows: pa.Table  # matching columns + region_code, category, rank, source, times, row
    bad: np.ndarray
    rejects: list[Reject]


def _read_cells(
    session: Session, actor: Actor, table: StringTable, positions: dict[str, int]
) -> _Cells:
    check = CellCheck(table, positions)
    cell = {name: check.text(name) for name in RISK_COLUMNS}
    people = check_people(
        cell["id_number"],
        cell["phone"],
        cell["name"],
        cell["address"],
        clock.today_local(),
        id_types=cell["id_type"] if "id_type" in positions else None,
    )
    for fault in people.faults:
        check.refuse(fault.mask, label(fault.field), cell[fault.field], fault.words)

    given = cell["category"]
    found = pc.index_in(pc.utf8_lower(given), value_set=pa.array(list(CATEGORY_ALIASES)))
    unknown = true_where(pc.is_null(found))
    check.refuse(
        unknown,
        label("category"),
        given,
        (
            "类别不认识，可填：密接、次密接、时空伴随者、一般接触者",
            "unknown category; use close, secondary, companion or general",
        ),
    )
    category = pc.take(pa.array(list(CATEGORY_ALIASES.values())), pc.fill_null(found, 0))
    rank = pc.take(
        pa.array([CATEGORY_RANK[c] for c in CATEGORY_ALIASES.values()], pa.int8()),
        pc.fill_null(found, 0),
    )

    source = cell["source"]
    check.refuse(empty_cells(source), label("source"), source, ("来源不能为空", "source is empty"))
    check.refuse(
        true_where(pc.greater(pc.utf8_length(source), MAX_SOURCE_CHARS)),
        label("source"),
        source,
        (f"内容超过 {MAX_SOURCE_CHARS} 个字", f"longer than {MAX_SOURCE_CHARS} characters"),
    )
    reported_at = _times(check, cell, "reported_at", required=True)
    last_exposure_at = _times(check, cell, "last_exposure_at", required=False)
    region = _regions(session, actor, check, cell["region_code"])
    rows = people.table.append_column("region_code", region)
    for name, values in (
        ("category", category),
        ("rank", rank),
        ("source", source),
        ("reported_at", reported_at),
        ("last_exposure_at", last_exposure_at),
        ("row", pa.array(table.row_numbers, pa.int64())),
        ("address", cell["address"]),
    ):
        rows = rows.append_column(name, values)
    return _Cells(rows, check.bad, check.rejects)


def _times(check: CellCheck, cell: dict[str, pa.Array], name: str, *, required: bool) -> pa.Array:
    given = cell[name]
    parsed = parse_local_times(given, get_settings().timezone)
    empty = empty_cells(given)
    if required:
        check.refuse(empty, label(name), given, ("不能为空", "empty"))
    check.refuse(
        true_where(pc.is_null(parsed)) & ~empty,
        label(name),
        given,
        ("时间格式不对，请写成 2022-03-14 08:30", "not a time; write it like 2022-03-14 08:30"),
    )
    latest = clock.now() + timedelta(minutes=CLOCK_SKEW_MINUTES)
    future = pc.greater(parsed, pa.scalar(latest, pa.timestamp("us", "UTC")))
    check.refuse(
        true_where(future), label(name), given, ("时间在将来", "the time is in the future")
    )
    return parsed


def _regions(session: Session, actor: Actor, check: CellCheck, given: pa.Array) -> pa.Array:
    """Each row's community for a new person: the cell (an existing
    community inside the jurisdiction), else the uploader's jurisdiction
    when it is a community, else ''."""
    stmt = select(Region.code).where(
        Region.level == "village", Region.code.startswith(actor.jurisdiction, autoescape=True)
    )
    ours = pa.array(session.scalars(stmt).all(), pa.string())
    empty = empty_cells(given)
    outside = ~empty & ~true_where(pc.is_in(given, value_set=ours))
    check.refuse(
        outside,
        label("region_code"),
        given,
        (
            f"不是您辖区（{actor.jurisdiction or '全国'}）内的村（社区）代码",
            f"not a community code inside your jurisdiction ({actor.jurisdiction or 'all'})",
        ),
    )
    default = actor.jurisdiction if actor.jurisdiction in set(ours.to_pylist()) else ""
    return pc.if_else(pa.array(empty), default, given)


# --- pending records --------------------------------------------------------------------


def pending_fingerprint(report: str, record: dict[str, str]) -> str:
    """One pending record: its report and the person as the file gives them."""
    parts = [report, *(record[k] for k in ("id_number", "phone", "name", "region_code", "address"))]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _keep_pending(
    conn: Connection,
    rows: pa.Table,
    matched: Matched,
    actor: Actor,
    channel: str,
    batch_id: int,
    now: datetime,
    result: RiskImportResult,
) -> None:
    """Store each pending record once (a record already pending is unchanged)."""
    at = np.flatnonzero(matched.pending != "")
    if not len(at):
        return
    pending = rows.take(pa.array(at))
    reports = report_fingerprints(pending, channel).to_pylist()
    zone = get_settings().zone
    records, prints = [], []
    for row, report in zip(pending.to_pylist(), reports, strict=True):
        exposure = row["last_exposure_at"]
        record = {
            "id_number": row["id_number"],
            "phone": row["phone"],
            "name": row["name"],
            "address": row["address"],
            "region_code": row["region_code"],
            "category": row["category"],
            "reported_at": row["reported_at"].astimezone(zone).isoformat(),
            "last_exposure_at": exposure.astimezone(zone).isoformat() if exposure else "",
            "row": str(row["row"]),
        }
        records.append(record)
        prints.append(pending_fingerprint(report, record))
    known = _known(conn, "pending_match", pa.table({"fingerprint": prints}))
    first = {p: i for i, p in reversed(list(enumerate(prints)))}
    keep = [i for i, p in enumerate(prints) if p not in known and first[p] == i]
    result.pending = len(keep)
    result.unchanged += len(prints) - len(keep)
    if not keep:
        return
    table = pa.table(
        {
            "region_code": [records[i]["region_code"] or actor.jurisdiction for i in keep],
            "source": [pending.column("source")[i].as_py() for i in keep],
            "record": [json.dumps(records[i], ensure_ascii=False) for i in keep],
            "candidate_ids": [
                json.dumps(list(matched.candidates.get(int(at[i]), ()))) for i in keep
            ],
            "reason": [matched.pending[at[i]] for i in keep],
            "fingerprint": [prints[i] for i in keep],
        }
    )
    copy_in(
        conn,
        "pending_match",
        table,
        {"channel": channel, "status": "open", "import_batch_id": batch_id, "received_at": now},
    )


def _known(conn: Connection, table: str, keys: pa.Table) -> set[str]:
    """Which fingerprints ``table`` holds already."""
    with staged(conn, "stage_known", f"fingerprint {key_text(conn)}", keys):
        found = copy_out(
            conn,
            "SELECT s.fingerprint FROM stage_known s "
            f"JOIN {table} t ON t.fingerprint = s.fingerprint",
            pa.schema([("fingerprint", pa.string())]),
        )
    return set(found.column("fingerprint").to_pylist())

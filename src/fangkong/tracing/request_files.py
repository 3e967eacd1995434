"""Cross-region requests to places outside the system travel as files:
the sender exports the persons it asks about (Chinese headers, local
times) and imports the outcomes the other place writes into that file.
Only a request that never reached a receiver in the system takes outcomes
from a file, and each outcome it changes is audited."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, record_audit, require
from fangkong.config import get_settings
from fangkong.errors import Conflict, InvalidInput
from fangkong.imports import map_columns
from fangkong.regions.models import Region
from fangkong.tabular import EXPORT_FORMATS, read_table, write_rows
from fangkong.tracing.models import RequestItem
from fangkong.tracing.requests import OUTCOME_LABELS, OUTCOMES, as_sender

EXPORT_HEADER = ["身份证号", "联系电话", "姓名", "类别", "末次暴露时间", "核查结果", "备注"]


def export_request(session: Session, actor: Actor, request_id: int, fmt: str) -> bytes:
    """The request as a file for a place outside the system (the sender's
    copy: the persons it named, and outcomes reported so far)."""
    require(actor, Permission.TRACING_REQUESTS)
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput("fmt", f"one of {', '.join(EXPORT_FORMATS)}")
    request = as_sender(session, actor, request_id)
    items = session.scalars(
        select(RequestItem).where(RequestItem.request_id == request.id).order_by(RequestItem.id)
    )
    zone = get_settings().zone
    rows = [
        [
            i.id_number,
            i.phone,
            i.name,
            i.category,
            i.last_exposure_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            if i.last_exposure_at
            else "",
            i.outcome,
            i.note,
        ]
        for i in items
    ]
    data = write_rows(EXPORT_HEADER, rows, fmt)
    if request.status == "sent" and not _in_system(session, request.to_region):
        request.status = "exported"  # the receiver answers by file, through the sender
    record_audit(
        session, actor, "request.export", "cross_region_request", request.id, request.from_region
    )
    session.commit()
    return data


def _in_system(session: Session, region: str) -> bool:
    """Whether the jurisdiction asked is one this system serves (its regions
    are loaded); a request elsewhere travels as a file."""
    return session.scalar(select(Region.code).where(Region.prefix == region)) is not None


OUTCOME_WORDS = {
    **{code: code for code in OUTCOMES},
    **{label[0]: code for code, label in OUTCOME_LABELS.items() if code},
    **{label[1]: code for code, label in OUTCOME_LABELS.items() if code},
}
OUTCOME_COLUMNS: dict[str, tuple[str, ...]] = {
    "id_number": ("身份证号", "id_number", "证件号码"),
    "phone": ("联系电话", "phone", "手机号"),
    "outcome": ("核查结果", "outcome", "结果"),
    "note": ("备注", "note"),
}


@dataclass(frozen=True)
class OutcomesImported:
    updated: int
    unchanged: int
    rejects: list[tuple[int, str]]  # spreadsheet row, reason


def import_outcomes(
    session: Session, actor: Actor, request_id: int, data: bytes, filename: str
) -> OutcomesImported:
    """The sender records the outcomes a place outside the system returned
    in the exported file (matched to the persons by identity number, else
    phone). Rows that match no person, or give no known outcome, are
    reported back with the reason; the others are saved."""
    require(actor, Permission.TRACING_REQUESTS)
    request = as_sender(session, actor, request_id)
    if request.status != "exported" and not (
        request.status == "done" and request.accepted_at is None
    ):
        raise Conflict(
            "只有发往系统外、以文件往来的协查函才能导入结果 "
            "(only a request to a place outside the system takes outcomes from a file)"
        )
    table = read_table(data, filename)
    columns = map_columns(table.headers, OUTCOME_COLUMNS, ("outcome",))
    items = list(session.scalars(select(RequestItem).where(RequestItem.request_id == request.id)))
    by_id = {i.id_number: i for i in items if i.id_number}
    by_phone = {i.phone: i for i in items if i.phone}

    def cell(row: list[str], name: str) -> str:
        position = columns.positions.get(name)
        return row[position].strip() if position is not None else ""

    now = clock.now()
    updated = unchanged = 0
    rejects: list[tuple[int, str]] = []
    for index, number in enumerate(table.row_numbers):
        row = table.row_values(index)
        item = by_id.get(cell(row, "id_number").upper()) or by_phone.get(cell(row, "phone"))
        outcome = OUTCOME_WORDS.get(cell(row, "outcome"))
        if item is None:
            rejects.append((int(number), "不是本协查函中的人员 (not a person of this request)"))
        elif outcome is None:
            rejects.append(
                (int(number), f"核查结果不认识 (unknown outcome; one of {', '.join(OUTCOMES)})")
            )
        elif item.outcome == outcome:
            unchanged += 1
        else:
            record_audit(
                session,
                actor,
                "request.outcome",
                "request_item",
                item.id,
                request.from_region,
                {"outcome": [item.outcome, outcome], "file": filename},
            )
            item.outcome, item.outcome_at, item.note = outcome, now, cell(row, "note")[:300]
            updated += 1
    if all(i.outcome for i in items):
        request.status = "done"
    record_audit(
        session,
        actor,
        "request.outcomes_import",
        "cross_region_request",
        request.id,
        request.from_region,
        {"updated": updated, "rejected": len(rejects), "file": filename},
    )
    session.commit()
    return OutcomesImported(updated, unchanged, rejects)

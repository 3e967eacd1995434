"""The registry file's columns: which headers mean which field (Chinese or
English), and which fields are required. Pure; documented in
docs/import-format.md."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fangkong.errors import UnreadableFile

FIELDS: tuple[str, ...] = (
    "id_type",
    "id_number",
    "name",
    "sex",
    "birth_date",
    "phone",
    "region_code",
    "building",
    "unit",
    "room",
    "household",
    "relation",
)
REQUIRED: tuple[str, ...] = ("id_number", "name", "region_code")

# The first alias of each field is the header Fangkong writes (zh, then en).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "id_type": ("证件类型", "id_type", "document_type"),
    "id_number": (
        "身份证号",
        "id_number",
        "身份证号码",
        "公民身份号码",
        "证件号码",
        "证件号",
        "identity_number",
        "document_number",
    ),
    "name": ("姓名", "name", "full_name"),
    "sex": ("性别", "sex", "gender"),
    "birth_date": ("出生日期", "birth_date", "date_of_birth", "birthday", "dob"),
    "phone": ("联系电话", "phone", "手机号", "手机号码", "电话", "电话号码", "mobile"),
    "region_code": (
        "区划代码",
        "region_code",
        "社区代码",
        "村居代码",
        "所属社区代码",
        "community_code",
    ),
    "building": ("楼栋", "building", "楼号", "楼栋号"),
    "unit": ("单元", "unit", "单元号"),
    "room": ("房号", "room", "门牌号", "房间号"),
    "household": ("户编号", "household", "户号", "household_code"),
    "relation": ("与户主关系", "relation", "relationship"),
}

FIELD_LABELS: dict[str, tuple[str, str]] = {
    field: (aliases[0], aliases[1]) for field, aliases in HEADER_ALIASES.items()
}


def header_row(fields: tuple[str, ...], language: str = "zh") -> tuple[str, ...]:
    """The headers Fangkong writes for ``fields`` (exports, synthetic files)."""
    return tuple(FIELD_LABELS[f][0 if language == "zh" else 1] for f in fields)


_NOISE = re.compile(r"[\s*＊:：()（）\[\]【】]|必填|选填|required|optional")


def normalize_header(header: str) -> str:
    """'身份证号（必填）' -> '身份证号', ' Phone ' -> 'phone'."""
    return _NOISE.sub("", header.strip().lstrip("\ufeff").lower())


_LOOKUP = {normalize_header(alias): field for field, al in HEADER_ALIASES.items() for alias in al}


@dataclass(frozen=True)
class ColumnMap:
    """field -> position in the file, and the headers that were ignored."""

    positions: dict[str, int]
    headers: list[str]
    ignored: list[str]


def map_headers(headers: list[str]) -> ColumnMap:
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, header in enumerate(headers):
        field = _LOOKUP.get(normalize_header(header))
        if field is None:
            if header.strip():
                ignored.append(header.strip())
            continue
        if field in positions:
            first = headers[positions[field]].strip()
            raise UnreadableFile(
                f"两列都表示「{FIELD_LABELS[field][0]}」: '{first}' 和 '{header.strip()}' "
                f"(two columns mean {FIELD_LABELS[field][1]}); keep one"
            )
        positions[field] = index
    missing = [f for f in REQUIRED if f not in positions]
    if missing:
        wanted = ", ".join(f"{FIELD_LABELS[f][0]} ({FIELD_LABELS[f][1]})" for f in missing)
        found = ", ".join(h.strip() for h in headers if h.strip()) or "none"
        raise UnreadableFile(
            f"缺少必填列 missing required column(s): {wanted}; columns found: {found}"
        )
    return ColumnMap(positions=positions, headers=headers, ignored=ignored)

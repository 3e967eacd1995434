"""The registry file's columns: which headers mean which field (Chinese or
English), and which fields are required. Pure; documented in
docs/import-format.md."""

from __future__ import annotations

from fangkong.imports import ColumnMap, map_columns

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


def map_headers(headers: list[str]) -> ColumnMap:
    return map_columns(headers, HEADER_ALIASES, REQUIRED)

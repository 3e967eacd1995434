"""The registry import: every bad input class gets a clear reason, no valid
row is ever lost, re-imports change nothing, changes are audited. Runs on
SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from openpyxl import Workbook
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import PermissionDenied, UnreadableFile
from fangkong.models import Base
from fangkong.people import rules
from fangkong.people.importing import ImportResult, import_people, rejects_report_rows
from fangkong.people.models import DuplicateSuspect, Household, Person
from fangkong.regions.catalog import Level, descendants
from tests.factories import EN_HEADER, ZH_HEADER, Row, person_row, registry_csv, resident_id

ANCI = [r.code for r in descendants("131002", Level.VILLAGE)]
GUANGYANG = [r.code for r in descendants("131003", Level.VILLAGE)]
COMMUNITY = ANCI[0]


def persons(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Person)) or 0)


def run(session: Session, actor: Actor, data: bytes, name: str = "registry.csv") -> ImportResult:
    return import_people(session, actor, data, name)


def reasons(result: ImportResult) -> dict[int, str]:
    return {r.row_number: f"{r.column} {r.reason_zh} {r.reason_en}" for r in result.rejects}


def test_valid_file_is_imported_with_households_and_addresses(
    session: Session, county_commander: Actor
) -> None:
    rows = [person_row(COMMUNITY, i, household="H1") for i in range(3)]
    result = run(session, county_commander, registry_csv(rows))
    assert (result.accepted, result.unchanged, result.rejected) == (3, 0, 0)
    assert result.summary == "accepted 3, unchanged 0, rejected 0"
    assert persons(session) == 3
    assert session.scalar(select(func.count()).select_from(Household)) == 1


def test_reimporting_the_same_file_changes_nothing(
    session: Session, county_commander: Actor
) -> None:
    data = registry_csv([person_row(COMMUNITY, i) for i in range(5)])
    run(session, county_commander, data)
    audits_before = session.scalar(select(func.count()).select_from(AuditEvent))
    again = run(session, county_commander, data)
    assert (again.accepted, again.unchanged, again.rejected) == (0, 5, 0)
    assert persons(session) == 5
    updates = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "person.update")
    )
    assert updates == 0
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == audits_before + 1


def test_a_changed_phone_updates_the_person_and_is_audited(
    session: Session, county_commander: Actor
) -> None:
    row = person_row(COMMUNITY, 1, phone="13800000001")
    run(session, county_commander, registry_csv([row]))
    row.phone = "139 0000 0002"
    result = run(session, county_commander, registry_csv([row]))
    assert (result.accepted, result.unchanged) == (1, 0)
    person = session.scalars(select(Person)).one()
    assert person.phone == "+8613900000002"
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "person.update")).one()
    assert event.object_id == str(person.id)
    assert event.changes["phone"] == ["+8613800000001", "+8613900000002"]
    assert event.actor_label == county_commander.username


def test_empty_address_and_household_cells_keep_the_known_ones(
    session: Session, county_commander: Actor
) -> None:
    row = person_row(COMMUNITY, 1, household="H1")
    run(session, county_commander, registry_csv([row]))
    before = session.scalars(select(Person)).one()
    row.building = row.unit = row.room = row.household = ""
    result = run(session, county_commander, registry_csv([row]))
    assert result.unchanged == 1
    after = session.scalars(select(Person)).one()
    assert (after.address_id, after.household_id) == (before.address_id, before.household_id)


def test_a_long_address_without_a_household_number_is_imported(
    session: Session, county_commander: Actor
) -> None:
    long = "楼" * 50
    row = person_row(COMMUNITY, 1, building=long, unit=long, room=long, household="")
    result = run(session, county_commander, registry_csv([row, person_row(COMMUNITY, 2)]))
    assert (result.accepted, result.rejected) == (2, 0)


def test_rows_after_blank_lines_keep_their_spreadsheet_row_numbers(
    session: Session, county_commander: Actor
) -> None:
    data = registry_csv([person_row(COMMUNITY, 1)])
    data += b"\r\n\r\n" + registry_csv([person_row(COMMUNITY, 2, name="")]).split(b"\r\n", 1)[1]
    result = run(session, county_commander, data)
    assert (result.accepted, result.rejected) == (1, 1)
    assert list(reasons(result)) == [5]  # header 1, row 2, blank 3 and 4


def test_empty_cells_never_erase_known_values(session: Session, county_commander: Actor) -> None:
    row = person_row(COMMUNITY, 1, phone="13800000001")
    run(session, county_commander, registry_csv([row]))
    row.phone = ""
    result = run(session, county_commander, registry_csv([row]))
    assert result.unchanged == 1
    assert session.scalars(select(Person.phone)).one() == "+8613800000001"


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"id_number": "131002198506150010"}, "校验码"),  # wrong check digit (fixed below)
        ({"id_number": "131002198502300013"}, "出生日期"),  # 30 February
        ({"id_number": "131002850615001"}, "15"),  # old 15-digit number
        ({"region_code": "131002999999"}, "区划代码不存在"),
        ({"name": ""}, "姓名不能为空"),
        ({"id_number": ""}, "身份证号"),
        ({"sex": "女"}, "性别与身份证号不符"),
        ({"phone": "12345"}, "电话"),
        ({"birth_date": "1990-01-01"}, "出生日期与身份证号"),
    ],
)
def test_each_bad_row_is_rejected_with_its_reason_and_good_rows_are_kept(
    session: Session, county_commander: Actor, bad: dict[str, str], expected: str
) -> None:
    good_before = person_row(COMMUNITY, 1)
    broken = person_row(COMMUNITY, 2)
    for key, value in bad.items():
        setattr(broken, key, value)
    if bad.get("id_number") == "131002198506150010":
        valid = resident_id("131002", date(1985, 6, 15), "M", serial=5)
        broken.id_number = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    good_after = person_row(COMMUNITY, 3)
    result = run(session, county_commander, registry_csv([good_before, broken, good_after]))
    assert (result.accepted, result.rejected) == (2, 1)
    assert list(reasons(result)) == [3]  # header is row 1
    assert expected in reasons(result)[3]
    assert persons(session) == 2


def test_duplicate_identity_number_in_one_file_keeps_the_first_row(
    session: Session, county_commander: Actor
) -> None:
    first = person_row(COMMUNITY, 1)
    second = person_row(COMMUNITY, 2, id_number=first.id_number)
    result = run(session, county_commander, registry_csv([first, second]))
    assert (result.accepted, result.rejected) == (1, 1)
    assert "与第 2 行的身份证号重复" in reasons(result)[3]
    assert session.scalars(select(Person.name)).one() == first.name


def test_checking_in_chunks_finds_what_one_piece_finds(
    session: Session, county_commander: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cells are checked in chunks on every core; a repeat across chunks, and
    the row numbers of rejects in later chunks, must come out the same."""
    monkeypatch.setattr(rules, "CHUNK_ROWS", 2)
    rows = [person_row(COMMUNITY, n, born=date(1980, 1, n)) for n in range(1, 7)]
    rows[3].phone = "12345"  # row 5, second chunk
    rows[5] = person_row(COMMUNITY, 6, born=date(1980, 1, 1), id_number=rows[0].id_number)
    result = run(session, county_commander, registry_csv(rows))  # row 7 repeats row 2
    assert (result.accepted, result.rejected) == (4, 2)
    assert list(reasons(result)) == [5, 7]
    assert "联系电话" in reasons(result)[5]
    assert "与第 2 行的身份证号重复" in reasons(result)[7]
    assert persons(session) == 4


def test_a_county_code_created_after_the_birth_year_is_accepted(
    session: Session, county_commander: Actor
) -> None:
    # 131002 exists since 1988; residents born earlier hold numbers starting with it.
    row = person_row(COMMUNITY, 1, born=date(1980, 3, 1))
    assert row.id_number.startswith("1310021980")
    result = run(session, county_commander, registry_csv([row]))
    assert result.rejected == 0


def test_gbk_file_with_english_headers_is_read(session: Session, county_commander: Actor) -> None:
    rows = [person_row(COMMUNITY, i) for i in range(2)]
    data = registry_csv(rows, header=EN_HEADER, encoding="gb18030")
    result = run(session, county_commander, data)
    assert result.accepted == 2
    assert any("GB18030" in n for n in result.notices)
    assert session.scalars(select(Person.name).order_by(Person.id)).first() == "测试0"


def test_wrong_encoding_is_unreadable_with_the_reason(
    session: Session, county_commander: Actor
) -> None:
    data = registry_csv([person_row(COMMUNITY, 1)], encoding="utf-16")
    with pytest.raises(UnreadableFile, match="UTF-16"):
        run(session, county_commander, data)
    assert persons(session) == 0


def test_bytes_neither_utf8_nor_gb18030_are_unreadable_with_their_offset(
    session: Session, county_commander: Actor
) -> None:
    data = registry_csv([person_row(COMMUNITY, 1)], encoding="utf-8")
    with pytest.raises(UnreadableFile, match=f"offset {len(data)}"):
        run(session, county_commander, data + b"\xff\xff\n")
    assert persons(session) == 0


def test_a_file_with_only_headers_is_unreadable(session: Session, county_commander: Actor) -> None:
    with pytest.raises(UnreadableFile, match="no rows"):
        run(session, county_commander, registry_csv([]))


def test_missing_required_column_names_the_column(
    session: Session, county_commander: Actor
) -> None:
    data = "姓名,联系电话\n张三,13800000000\n".encode()
    with pytest.raises(UnreadableFile, match="身份证号"):
        run(session, county_commander, data)


def test_a_truncated_file_keeps_every_complete_row(
    session: Session, county_commander: Actor
) -> None:
    rows = [person_row(COMMUNITY, i) for i in range(4)]
    data = registry_csv(rows)
    cut = data[: data.rindex(b"\n", 0, len(data) - 1) + 20]  # mid-way through the last row
    result = run(session, county_commander, cut)
    assert (result.accepted, result.rejected) == (3, 1)
    assert 5 in reasons(result)
    assert any("cut off" in n for n in result.notices)
    assert persons(session) == 3


def test_a_truncated_file_inside_a_quoted_cell_keeps_every_complete_row(
    session: Session, county_commander: Actor
) -> None:
    rows = [person_row(COMMUNITY, i) for i in range(3)]
    data = registry_csv(rows) + f'{resident_id()},"王'.encode()
    result = run(session, county_commander, data)
    assert result.accepted == 3
    assert result.rejected == 1


def _xlsx(rows: list[list[str]], merge: str | None = None, extra_sheet: bool = False) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "人员"
    sheet.append(ZH_HEADER)
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    if extra_sheet:
        workbook.create_sheet("说明").append(["填表说明"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_with_merged_cells_rejects_the_merged_rows_only(
    session: Session, county_commander: Actor
) -> None:
    rows = [person_row(COMMUNITY, i).values() for i in range(4)]
    data = _xlsx(rows, merge="F3:F4", extra_sheet=True)
    result = run(session, county_commander, data, "registry.xlsx")
    assert (result.accepted, result.rejected) == (2, 2)
    assert "合并单元格 F3:F4" in reasons(result)[3]
    assert any("说明" in n for n in result.notices)


def test_xlsx_identity_number_stored_as_a_number_is_rejected_with_the_reason(
    session: Session, county_commander: Actor
) -> None:
    row = person_row(COMMUNITY, 1).values()
    while not row[0].isdigit():  # a check digit X cannot be typed as a number
        row = person_row(COMMUNITY, 1).values()
    damaged: list[object] = list(row)
    damaged[0] = float(row[0])
    data = _xlsx([damaged, person_row(COMMUNITY, 2).values()])  # type: ignore[list-item]
    result = run(session, county_commander, data, "registry.xlsx")
    assert (result.accepted, result.rejected) == (1, 1)
    assert "15 位" in reasons(result)[2]


def test_a_corrupt_xlsx_is_unreadable(session: Session, county_commander: Actor) -> None:
    data = _xlsx([person_row(COMMUNITY, 1).values()])
    with pytest.raises(UnreadableFile, match="XLSX"):
        run(session, county_commander, data[: len(data) // 2], "registry.xlsx")


def test_rows_outside_the_jurisdiction_are_rejected(
    session: Session, county_commander: Actor
) -> None:
    inside, outside = person_row(COMMUNITY, 1), person_row(GUANGYANG[0], 2)
    result = run(session, county_commander, registry_csv([inside, outside]))
    assert (result.accepted, result.rejected) == (1, 1)
    assert "辖区" in reasons(result)[3]


def test_a_person_registered_in_another_county_is_not_moved(
    session: Session, county_commander: Actor, other_county_commander: Actor
) -> None:
    theirs = person_row(GUANGYANG[0], 1)
    run(session, other_county_commander, registry_csv([theirs]))
    moved = person_row(COMMUNITY, 1, id_number=theirs.id_number)
    result = run(session, county_commander, registry_csv([moved]))
    assert (result.accepted, result.rejected) == (0, 1)
    assert session.scalars(select(Person.region_code)).one() == GUANGYANG[0]


def test_same_name_and_phone_with_another_identity_number_is_flagged_not_merged(
    session: Session, county_commander: Actor
) -> None:
    a = person_row(COMMUNITY, 1, name="李四", phone="13811112222")
    b = person_row(COMMUNITY, 2, name="李四", phone="13811112222", born=date(1990, 1, 1))
    result = run(session, county_commander, registry_csv([a, b]))
    assert result.accepted == 2
    suspect = session.scalars(select(DuplicateSuspect)).one()
    assert suspect.reason == "same_name_phone"
    assert suspect.status == "open"
    assert persons(session) == 2


def test_three_rows_sharing_name_and_phone_give_every_pair(
    session: Session, county_commander: Actor
) -> None:
    trio = [
        person_row(COMMUNITY, n, name="王五", phone="13811113333", born=date(1990, 1, n))
        for n in (1, 2, 3)
    ]
    result = run(session, county_commander, registry_csv([*trio, person_row(COMMUNITY, 4)]))
    assert result.duplicate_suspects == 3
    pairs = session.execute(select(DuplicateSuspect.person_a_id, DuplicateSuspect.person_b_id))
    ids = dict(session.execute(select(Person.id_number, Person.id)).all())
    a, b, c = (ids[row.id_number] for row in trio)
    assert sorted(tuple(pair) for pair in pairs) == sorted([(a, b), (a, c), (b, c)])


def test_a_later_import_is_checked_for_duplicates_against_the_registry(
    session: Session, county_commander: Actor
) -> None:
    a = person_row(COMMUNITY, 1, name="赵六", phone="13833334444")
    b = person_row(COMMUNITY, 2, name="赵六", phone="13833334444", born=date(1990, 1, 1))
    run(session, county_commander, registry_csv([a]))
    result = run(session, county_commander, registry_csv([b]))
    assert result.duplicate_suspects == 1
    assert session.scalars(select(DuplicateSuspect.reason)).one() == "same_name_phone"
    again = run(session, county_commander, registry_csv([b]))
    assert again.duplicate_suspects == 0


def test_rejects_report_holds_the_original_columns_and_the_reason(
    session: Session, county_commander: Actor
) -> None:
    bad = person_row(COMMUNITY, 2, name="")
    result = run(session, county_commander, registry_csv([person_row(COMMUNITY, 1), bad]))
    header, rows = rejects_report_rows(session, county_commander, result.batch_id)
    assert header[: len(ZH_HEADER)] == ZH_HEADER
    assert rows[0][: len(ZH_HEADER)] == bad.values()
    assert rows[0][len(ZH_HEADER)] == "3"
    assert "姓名不能为空" in rows[0][-2]


def test_another_county_cannot_read_an_import_report(
    session: Session, county_commander: Actor, other_county_commander: Actor
) -> None:
    from fangkong.errors import NotFound

    result = run(session, county_commander, registry_csv([Row(region_code=COMMUNITY, name="")]))
    with pytest.raises(NotFound):
        rejects_report_rows(session, other_county_commander, result.batch_id)


def test_a_role_without_import_permission_cannot_import(session: Session, lab: Actor) -> None:
    with pytest.raises(PermissionDenied):
        run(session, lab, registry_csv([person_row(COMMUNITY, 1)]))


def test_a_large_first_load_rebuilds_indexes_and_stays_correct(
    session: Session, county_commander: Actor
) -> None:
    from fangkong.people.importing import FIRST_LOAD_MIN_ROWS

    count = FIRST_LOAD_MIN_ROWS + 10
    rows = [
        person_row(ANCI[i % len(ANCI)], i, born=date(1950 + i % 60, 1 + i % 12, 1 + i % 28))
        for i in range(count)
    ]
    result = run(session, county_commander, registry_csv(rows))
    assert result.accepted + result.rejected == count
    assert persons(session) == result.accepted
    assert run(session, county_commander, registry_csv(rows[:50])).unchanged == 50
    # every key, foreign key and index dropped for the load is back
    connection = session.connection()
    assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    inspector = inspect(connection)
    for table in ("person", "address", "household"):
        assert inspector.get_pk_constraint(table)["constrained_columns"] == ["id"]
        declared = {fk.name for fk in Base.metadata.tables[table].foreign_key_constraints}
        assert {fk["name"] for fk in inspector.get_foreign_keys(table)} == declared
    pointing = {fk["name"] for fk in inspector.get_foreign_keys("duplicate_suspect")}
    assert "fk_duplicate_suspect_person_a_id_person" in pointing

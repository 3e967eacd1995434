"""The synthetic population generator and its file writer."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import phonenumbers
import pytest
from openpyxl import load_workbook
from stdnum.cn import ric

from fangkong.regions.catalog import Level, descendants, load_catalog, significant_prefix
from fangkong.sim.households import AGE_STRUCTURE_2020, RELATIONS
from fangkong.sim.population import HEADERS, SyntheticPerson, generate_population, write_population

TODAY = date(2022, 3, 15)
HEBEI_COUNTIES = {r.code for r in load_catalog() if r.level is Level.COUNTY}


@pytest.fixture(scope="module")
def district() -> list[SyntheticPerson]:
    """50,000 persons of Anci district (urban: 街道 and 社区)."""
    return list(generate_population("131002", 50_000, seed=1))


@pytest.fixture(scope="module")
def county() -> list[SyntheticPerson]:
    """20,000 persons of Dacheng county (rural: 镇, 乡 and 村)."""
    return list(generate_population("131025", 20_000, seed=2))


def _age(person: SyntheticPerson) -> int:
    born = person.birth_date
    return TODAY.year - born.year - ((TODAY.month, TODAY.day) < (born.month, born.day))


def _households(people: list[SyntheticPerson]) -> dict[str, list[SyntheticPerson]]:
    out: dict[str, list[SyntheticPerson]] = defaultdict(list)
    for p in people:
        out[p.household].append(p)
    return out


def test_same_region_persons_and_seed_give_byte_identical_files(tmp_path: Path) -> None:
    paths = [tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"]
    for path, seed in zip(paths, (7, 7, 8), strict=True):
        assert write_population(generate_population("131003001", 3000, seed), path) == 3000
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_the_requested_number_of_persons_is_generated(county: list[SyntheticPerson]) -> None:
    assert len(county) == 20_000
    assert list(generate_population("131025", 0, seed=1)) == []
    assert len(list(generate_population("131025001001", 37, seed=1))) == 37


def test_mean_household_size_is_that_of_the_2020_census(district: list[SyntheticPerson]) -> None:
    households = _households(district)
    assert 2.5 <= len(district) / len(households) <= 2.75
    sizes = Counter(len(members) for members in households.values())
    assert 0.22 <= sizes[1] / len(households) <= 0.29  # census: 25.39% one-person households


def test_age_structure_is_close_to_the_2020_census(district: list[SyntheticPerson]) -> None:
    ages = [_age(p) for p in district]
    share = {
        "0-14": sum(a < 15 for a in ages),
        "15-59": sum(15 <= a < 60 for a in ages),
        "60+": sum(a >= 60 for a in ages),
        "65+": sum(a >= 65 for a in ages),
    }
    for group, count in share.items():
        assert abs(100 * count / len(ages) - AGE_STRUCTURE_2020[group]) < 2.5, group
    assert min(ages) >= 0
    assert max(ages) <= 105


def test_every_identity_number_has_a_valid_check_digit_and_the_real_birth_date(
    district: list[SyntheticPerson],
) -> None:
    for p in district:
        number = p.id_number
        assert len(number) == 18
        assert number[:17].isdigit()
        assert ric.calc_check_digit(number) == number[17]  # it skips the last character
        assert datetime.strptime(number[6:14], "%Y%m%d").date() == p.birth_date
        assert p.birth_date <= TODAY
        assert number[:6] in HEBEI_COUNTIES


def test_most_people_were_born_in_their_own_county(district: list[SyntheticPerson]) -> None:
    elsewhere = sum(p.id_number[:6] != p.region_code[:6] for p in district) / len(district)
    assert 0.07 <= elsewhere <= 0.13


def test_identity_numbers_are_unique_within_a_run(district: list[SyntheticPerson]) -> None:
    assert len({p.id_number for p in district}) == len(district)


def test_runs_with_other_seeds_rarely_reuse_identity_numbers(
    district: list[SyntheticPerson],
) -> None:
    other = {p.id_number for p in generate_population("131002", 50_000, seed=2)}
    assert len(other & {p.id_number for p in district}) < 0.01 * len(district)


def test_sequence_parity_gives_the_sex(district: list[SyntheticPerson]) -> None:
    for p in district:
        assert p.sex == ("男" if int(p.id_number[16]) % 2 else "女")
    men = sum(p.sex == "男" for p in district) / len(district)
    assert 0.48 <= men <= 0.53


def test_phones_are_valid_chinese_mobile_numbers(district: list[SyntheticPerson]) -> None:
    phones = [p.phone for p in district if p.phone]
    for phone in phones[:: max(1, len(phones) // 2000)]:
        parsed = phonenumbers.parse(phone, "CN")
        assert phonenumbers.is_valid_number(parsed), phone
        assert phonenumbers.number_type(parsed) is phonenumbers.PhoneNumberType.MOBILE


def test_young_children_have_no_phone_and_every_adult_has_one(
    district: list[SyntheticPerson],
) -> None:
    for p in district:
        if _age(p) < 12:
            assert p.phone == ""
        if _age(p) >= 18:
            assert p.phone != ""


def test_a_phone_is_shared_only_within_a_household_by_about_one_adult_in_a_hundred(
    district: list[SyntheticPerson],
) -> None:
    holders: dict[str, set[str]] = defaultdict(set)
    for p in district:
        if p.phone:
            holders[p.phone].add(p.household)
    assert all(len(households) == 1 for households in holders.values())
    adults = [p for p in district if _age(p) >= 18]
    counts = Counter(p.phone for p in adults)
    sharing = sum(1 for p in adults if counts[p.phone] > 1 and p.relation != "户主")
    assert 0.003 <= sharing / len(adults) <= 0.02


def test_every_person_lives_in_a_community_under_the_requested_region() -> None:
    for region in ("131002", "131002003", "130921005", "131082002007", "131000"):
        communities = {r.code for r in descendants(region, Level.VILLAGE)} or {region}
        people = list(generate_population(region, 2000, seed=3))
        assert {p.region_code for p in people} <= communities
        assert all(p.region_code.startswith(significant_prefix(region)) for p in people)


def test_persons_are_spread_over_every_community_of_a_county(
    district: list[SyntheticPerson],
) -> None:
    communities = {r.code for r in descendants("131002", Level.VILLAGE)}
    assert {p.region_code for p in district} == communities


def test_households_are_consistent(district: list[SyntheticPerson]) -> None:
    for code, members in _households(district).items():
        head = members[0]
        assert head.relation == "户主"
        assert [m.relation for m in members].count("户主") == 1
        assert _age(head) >= 18
        assert code.startswith(head.region_code + "-")
        assert len({(m.region_code, m.building, m.unit, m.room) for m in members}) == 1
        for m in members[1:]:
            assert m.relation in RELATIONS
            gap = _age(head) - _age(m)
            if m.relation == "配偶":
                assert m.sex != head.sex
                assert _age(m) >= 19
                assert abs(gap) <= 15
            elif m.relation == "子女":
                assert 19 <= gap <= 46, (head, m)
            elif m.relation == "父母":
                assert gap <= -19, (head, m)
            elif m.relation == "孙子女":
                assert gap >= 38


def test_urban_households_live_in_flats_and_rural_ones_in_houses(
    district: list[SyntheticPerson], county: list[SyntheticPerson]
) -> None:
    for p in district:
        assert p.building.endswith("号楼")
        assert p.unit.endswith("单元")
        assert p.room.isdigit()
    for p in county:
        assert p.unit == ""
        assert p.room.endswith("号")
        assert p.building == "" or p.building.endswith("巷")
    assert len({p.household for p in county}) == len(
        {(p.region_code, p.building, p.room) for p in county}
    )


def test_unknown_or_unsupported_regions_are_rejected() -> None:
    with pytest.raises(ValueError, match="not in the region catalog"):
        generate_population("131099", 10, seed=1)
    with pytest.raises(ValueError, match="no villages"):
        generate_population("130102", 10, seed=1)  # Shijiazhuang: no synthetic villages
    with pytest.raises(ValueError, match="persons"):
        generate_population("131002", -1, seed=1)


@pytest.mark.parametrize("headers", ["zh", "en"])
def test_csv_is_utf8_with_bom_and_the_chosen_headers(tmp_path: Path, headers: str) -> None:
    path = tmp_path / "people.csv"
    people = list(generate_population("131002001", 500, seed=4))
    assert write_population(people, path, headers=headers) == 500  # type: ignore[arg-type]
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(rows[0]) == HEADERS[headers]
    assert len(rows) == 501
    first = people[0]
    assert rows[1] == [
        first.id_number,
        first.name,
        first.sex,
        first.birth_date.isoformat(),
        first.phone,
        first.region_code,
        first.building,
        first.unit,
        first.room,
        first.household,
        first.relation,
    ]


def test_csv_fields_that_need_quoting_are_quoted(tmp_path: Path) -> None:
    people = list(generate_population("131002001", 50, seed=5))
    people[3] = replace(people[3], name='张,"三"')
    path = tmp_path / "quoted.csv"
    write_population(people, path, headers="en")
    text = path.read_bytes().decode("utf-8-sig")
    expected = io.StringIO()
    writer = csv.writer(expected)
    writer.writerow(HEADERS["en"])
    for p in people:
        writer.writerow([getattr(p, f) for f in HEADERS["en"]])
    assert text == expected.getvalue()
    assert list(csv.reader(io.StringIO(text, newline="")))[4][1] == '张,"三"'


@pytest.mark.parametrize("headers", ["zh", "en"])
def test_xlsx_holds_text_cells_with_the_chosen_headers(tmp_path: Path, headers: str) -> None:
    path = tmp_path / "people.xlsx"
    people = list(generate_population("130902001", 300, seed=6))
    assert write_population(people, path, headers=headers) == 300  # type: ignore[arg-type]
    sheet = load_workbook(path, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert tuple(rows[0]) == HEADERS[headers]
    assert len(rows) == 301
    assert rows[1][0] == people[0].id_number
    assert rows[1][3] == people[0].birth_date.isoformat()
    again = tmp_path / "again.xlsx"
    write_population(people, again, headers=headers)  # type: ignore[arg-type]
    assert again.read_bytes() == path.read_bytes()


def test_other_file_types_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.csv or \.xlsx"):
        write_population([], tmp_path / "people.json")

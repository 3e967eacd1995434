"""Reading the tabular files field teams send: CSV (UTF-8 with or without
BOM, GB18030/GBK as Excel in China saves it) and XLSX.

Every cell arrives as a string (never guessed into numbers, which would
destroy identity numbers), with the spreadsheet row number of each record
(the header is row 1). Rows the parser cannot split into the right number of
cells are returned as :class:`BrokenRow` instead of stopping the read, so a
file cut off mid-way still yields every complete row before the cut.

Used by every import in Fangkong; the import decides what the columns mean.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from fangkong.errors import UnreadableFile


@dataclass(frozen=True)
class BrokenRow:
    row_number: int
    text: str
    reason: str


@dataclass
class StringTable:
    """All cells as strings; ``row_numbers[i]`` is record i's row in the file."""

    headers: list[str]
    columns: list[pa.Array]
    row_numbers: np.ndarray
    broken: list[BrokenRow] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return len(self.row_numbers)

    def row_values(self, index: int) -> list[str]:
        return [str(col[index].as_py() or "") for col in self.columns]


def read_table(data: bytes, filename: str) -> StringTable:
    if not data:
        raise UnreadableFile("文件是空的 the file is empty")
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        return _read_xlsx(data)
    return _read_csv(data)


# --- CSV ---------------------------------------------------------------------


def _decode(data: bytes) -> tuple[pa.Buffer, str]:
    """Return the UTF-8 text (without BOM) and the name of the encoding
    found. A UTF-8 file is checked by Arrow and never copied: it is most
    files, and the largest."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile(
            "文件是 UTF-16 编码，请在 Excel 中另存为「CSV UTF-8」或「CSV」"
            " (the file is UTF-16; save it as CSV UTF-8 or plain CSV)"
        )
    text = pa.py_buffer(data)
    if data.startswith(b"\xef\xbb\xbf"):
        text = text.slice(3)
    try:
        pa.LargeStringArray.from_buffers(
            1, pa.array([0, text.size], pa.int64()).buffers()[1], text
        ).validate(full=True)
        return text, "UTF-8"
    except pa.ArrowInvalid:
        try:
            return pa.py_buffer(data.decode("gb18030").encode("utf-8")), "GB18030"
        except UnicodeDecodeError:
            start = _first_bad_utf8(data)
            raise UnreadableFile(
                "无法识别文件编码（不是 UTF-8，也不是 GBK/GB18030）"
                f" (the file is neither UTF-8 nor GBK/GB18030; first bad byte at offset {start})"
            ) from None


def _first_bad_utf8(data: bytes) -> int:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return -1


def _sniff_delimiter(first_line: bytes) -> str:
    counts = {d: first_line.count(d.encode()) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


BLANK_LINE = re.compile(rb"\n\r?\n")


def _has_blank_line(data: memoryview) -> bool:
    """A blank line before the last non-blank one (trailing ones are harmless)."""
    end = len(data)
    while end and data[end - 1] in b"\r\n":
        end -= 1
    return BLANK_LINE.search(data, 0, end) is not None


def _read_csv(raw: bytes) -> StringTable:
    text, encoding = _decode(raw)
    data = memoryview(text).cast("B")  # Arrow exports signed bytes
    first_end = bytes(data[:4096]).find(b"\n")
    delimiter = _sniff_delimiter(bytes(data[: first_end if first_end >= 0 else 4096]))
    notices = [] if encoding == "UTF-8" else [f"文件编码 {encoding} (file encoding {encoding})"]
    try:
        # Arrow skips blank lines without counting them; the stdlib reader
        # keeps the spreadsheet's row numbers for files that have some.
        table = (
            _read_csv_stdlib(text, delimiter)
            if _has_blank_line(data)
            else _read_csv_arrow(text, delimiter)
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        table = _read_csv_stdlib(text, delimiter)
    table.notices[:0] = notices
    if len(data) and data[-1] not in b"\n\r" and table.num_rows + len(table.broken) > 0:
        table.notices.append(
            "文件最后一行没有换行符，文件可能不完整；请核对最后一行"
            " (the last row has no line end: the file may be cut off; check the last row)"
        )
    return table


def _read_csv_arrow(data: pa.Buffer, delimiter: str) -> StringTable:
    """Parse with both cores; only a file with broken rows is parsed again on
    one thread, which numbers the broken rows."""
    table, broken = _parse_arrow(data, delimiter, threads=True)
    if broken:
        table, broken = _parse_arrow(data, delimiter, threads=False)
    # InvalidRow.number counts records (header = 1); valid records fill the gaps.
    skipped = sorted(b.row_number for b in broken)
    total = table.num_rows + len(skipped)
    numbers = np.arange(2, total + 2, dtype=np.int64)
    if skipped:
        numbers = numbers[~np.isin(numbers, np.array(skipped, dtype=np.int64))]
    columns = [table.column(i).combine_chunks() for i in range(table.num_columns)]
    return StringTable(
        headers=list(table.column_names), columns=columns, row_numbers=numbers, broken=broken
    )


def _parse_arrow(
    data: pa.Buffer, delimiter: str, *, threads: bool
) -> tuple[pa.Table, list[BrokenRow]]:
    broken: list[BrokenRow] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        broken.append(
            BrokenRow(
                row_number=row.number or -1,
                text=row.text,
                reason=f"这一行有 {row.actual_columns} 个单元格，应为 {row.expected_columns} 个"
                f"（可能被截断或多了逗号） (row has {row.actual_columns} cells, expected "
                f"{row.expected_columns}: cut off or an extra delimiter)",
            )
        )
        return "skip"

    header_reader = pacsv.open_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(block_size=1 << 16),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
    )
    headers = header_reader.schema.names
    header_reader.close()
    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(
            use_threads=threads,
            column_names=headers,
            skip_rows=1,
            # few, large blocks: joining a column's chunks costs per chunk
            block_size=max(1 << 20, data.size // 8),
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={h: pa.string() for h in headers},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table, broken


def _read_csv_stdlib(data: pa.Buffer, delimiter: str) -> StringTable:
    """Slow, forgiving path for files pyarrow refuses (an unterminated quote
    at a cut-off end): every complete record is kept."""
    text = data.to_pybytes().decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    rows = iter(reader)
    try:
        headers = next(rows)
    except StopIteration:
        raise UnreadableFile("文件是空的 the file is empty") from None
    good: list[list[str]] = []
    numbers: list[int] = []
    broken: list[BrokenRow] = []
    for row_number, row in enumerate(rows, start=2):
        if len(row) == len(headers):
            good.append(row)
            numbers.append(row_number)
        elif any(cell.strip() for cell in row):
            broken.append(
                BrokenRow(
                    row_number,
                    delimiter.join(row),
                    f"这一行有 {len(row)} 个单元格，应为 {len(headers)} 个（可能被截断）"
                    f" (row has {len(row)} cells, expected {len(headers)}: cut off?)",
                )
            )
    columns = [pa.array([r[i] for r in good], type=pa.string()) for i in range(len(headers))]
    return StringTable(headers, columns, np.array(numbers, dtype=np.int64), broken)


# --- XLSX --------------------------------------------------------------------


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes) -> StringTable:
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=False, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise UnreadableFile(
            f"无法打开 Excel 文件（文件可能损坏或不完整） (cannot open the XLSX file: {error})"
        ) from None
    sheet = workbook.worksheets[0]
    notices = []
    if len(workbook.worksheets) > 1:
        others = ", ".join(f"'{ws.title}'" for ws in workbook.worksheets[1:])
        notices.append(
            f"只读取了第一个工作表 '{sheet.title}'，忽略了 {others}"
            f" (only the first sheet '{sheet.title}' was read; ignored {others})"
        )
    rows = sheet.iter_rows(values_only=True)
    try:
        header_row = next(rows)
    except StopIteration:
        raise UnreadableFile("工作表是空的 the sheet is empty") from None
    width = len(header_row)
    while width and header_row[width - 1] in (None, ""):
        width -= 1
    headers = [_cell_text(v) for v in header_row[:width]]

    merged_rows: dict[int, str] = {}
    for merged in sheet.merged_cells.ranges:
        label = merged.coord
        if merged.min_row == 1:
            raise UnreadableFile(
                f"表头有合并单元格 {label}，请取消合并"
                f" (header cells {label} are merged; unmerge them)"
            )
        for r in range(merged.min_row, merged.max_row + 1):
            merged_rows.setdefault(r, label)

    values: list[list[str]] = []
    numbers: list[int] = []
    broken: list[BrokenRow] = []
    for row_number, row in enumerate(rows, start=2):
        cells = [_cell_text(v) for v in row[:width]] + [""] * max(0, width - len(row))
        if not any(c.strip() for c in cells):
            continue
        lost = [
            get_column_letter(i + 1)
            for i, v in enumerate(row[:width])
            if isinstance(v, int | float) and not isinstance(v, bool) and abs(v) >= 1e15
        ]
        if lost:
            broken.append(
                BrokenRow(
                    row_number,
                    ",".join(cells),
                    f"{', '.join(lost)} 列是数字格式，Excel 只保留 15 位有效数字，"
                    "号码后几位已丢失；请把该列设为「文本」后重新输入 (column "
                    f"{', '.join(lost)} holds a number: Excel keeps only 15 digits, so the last "
                    "digits of the identity number are lost; format the column as text and retype)",
                )
            )
            continue
        if row_number in merged_rows:
            broken.append(
                BrokenRow(
                    row_number,
                    ",".join(cells),
                    f"合并单元格 {merged_rows[row_number]}：请取消合并，并在每一行填写完整"
                    f" (merged cells {merged_rows[row_number]}: unmerge and fill every row)",
                )
            )
            continue
        values.append(cells)
        numbers.append(row_number)
    columns = [pa.array([r[i] for r in values], type=pa.string()) for i in range(width)]
    return StringTable(headers, columns, np.array(numbers, dtype=np.int64), broken, notices)


def read_path(path: Path) -> StringTable:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableFile(f"无法读取文件 cannot read {path}: {error.strerror}") from None
    return read_table(data, path.name)


# --- Writing -----------------------------------------------------------------

EXPORT_FORMATS = ("csv", "xlsx")


def write_rows(header: list[str], rows: Iterable[Sequence[object]], fmt: str) -> bytes:
    """A list as CSV (UTF-8 with BOM, which Excel opens correctly) or XLSX
    (every cell as text, so identity numbers keep all 18 digits)."""
    if fmt == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
        return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
    if fmt == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet()
        sheet.append(header)
        for row in rows:
            sheet.append(["" if v is None else str(v) for v in row])
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()
    raise ValueError(f"unknown export format {fmt!r}; use one of {EXPORT_FORMATS}")

"""Typed-in strings for the identity and phone checks
(:mod:`fangkong.people.identity`, :mod:`fangkong.people.phones`): their
common cleaning, of one value and over an Arrow string column, and the small
Arrow helpers of the bulk forms.

Cleaning folds Unicode compatibility forms (NFKC, so full-width ``１２３Ｘ``
count as ``123X``) and removes every whitespace character.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

Values = Any  # pa.Array | pa.ChunkedArray | Sequence[str | None]; pyarrow is untyped

# ASCII rows are cleaned by RE2 (bulk) or re (single) with the same pattern;
# non-ASCII rows always go through clean (NFKC folding first), also in bulk.
ASCII_SPACE = r"[\t\n\v\f\r ]"
UNICODE_SPACE = (
    r"[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff]"
)

_ASCII_SPACE_RE = re.compile(ASCII_SPACE)
_UNICODE_SPACE_RE = re.compile(UNICODE_SPACE)


def clean(value: str | None) -> str:
    """Fold compatibility forms and remove all whitespace."""
    if not value:
        return ""
    if value.isascii():
        return _ASCII_SPACE_RE.sub("", value)
    return _UNICODE_SPACE_RE.sub("", unicodedata.normalize("NFKC", value))


def as_string_array(values: Values) -> Any:
    """Any accepted input as a pa.StringArray (nulls kept)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.string() else pc.cast(values, pa.string())
    return pa.array(values, type=pa.string())


def clean_bulk(arr: Any, ascii_pattern: str, clean_one: Callable[[str | None], str]) -> Any:
    """Bulk cleaning: RE2 on ASCII rows, the single-value cleaner on the others."""
    arr = pc.fill_null(arr, "")
    cleaned = pc.replace_substring_regex(arr, pattern=ascii_pattern, replacement="")
    non_ascii = pc.invert(pc.string_is_ascii(arr))
    if pc.any(non_ascii).as_py():
        others = pc.filter(arr, non_ascii).to_pylist()
        cleaned = pc.replace_with_mask(
            cleaned, non_ascii, pa.array([clean_one(v) for v in others], type=pa.string())
        )
    return cleaned


# --------------------------------------------------------------------------
# Arrow string columns
# --------------------------------------------------------------------------


def np_bool(arr: Any) -> npt.NDArray[np.bool_]:
    """A boolean Arrow array as NumPy, null as False."""
    out: npt.NDArray[np.bool_] = np.asarray(
        pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=np.bool_
    )
    return out


def np_len(arr: Any) -> npt.NDArray[np.int64]:
    """Character lengths, 0 for null."""
    out: npt.NDArray[np.int64] = np.asarray(
        pc.fill_null(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    return out


def full_match(arr: Any, pattern: str) -> npt.NDArray[np.bool_]:
    """Which rows the RE2 ``pattern`` matches as a whole."""
    return np_bool(pc.match_substring_regex(arr, pattern=f"^(?:{pattern})$"))


def starts(arr: Any, pattern: str) -> npt.NDArray[np.bool_]:
    """Which rows begin with a match of the RE2 ``pattern``."""
    return np_bool(pc.match_substring_regex(arr, pattern=f"^(?:{pattern})"))


def np_bytes(arr: Any) -> npt.NDArray[np.int64]:
    """Byte lengths (= character lengths for ASCII strings)."""
    out: npt.NDArray[np.int64] = np.asarray(
        pc.fill_null(pc.binary_length(arr), 0).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    return out


def subset(arr: Any, mask: npt.NDArray[np.bool_]) -> Any:
    """The rows under ``mask``."""
    return pc.filter(arr, pa.array(mask, type=pa.bool_()))


def offsets_and_data(arr: Any) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
    """The offsets and bytes of a null-free pa.StringArray, as numpy views."""
    n = len(arr)
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0)
    return offsets, data.astype(np.uint8, copy=False)


def replace_rows(arr: Any, mask: npt.NDArray[np.bool_], values: Any) -> Any:
    """``arr`` with the rows under ``mask`` replaced by ``values`` (in order)."""
    if not mask.any():
        return arr
    # take + if_else: several times faster than pc.replace_with_mask
    positions = pa.array(np.cumsum(mask) - 1, mask=~mask)
    return pc.if_else(pa.array(mask, type=pa.bool_()), pc.take(values, positions), arr)

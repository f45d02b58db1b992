"""Arrow arrays from Python lists, built from one buffer each.

Hand-written for speed and start-up: `pa.array` converts value by value, and imports pandas on its first call
(0.2-1 s of every process that builds a table from Python values: a worker, a no-op stage command).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

# Arrow's integer and float types, as numpy's (the same values; numpy raises on an integer out of range too).
_NUMPY = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}


def string_array(values: list[str | None], large: bool = False) -> pa.Array:
    """`pa.array(values, pa.string())` (`pa.large_string()` when `large`): the same array."""
    n = len(values)
    nulls = None in values
    if not nulls and all(map(str.isascii, values)):  # one join: a character is a byte
        data = "".join(values).encode("ascii")  # type: ignore[arg-type] (no None here)
        lengths = np.fromiter(map(len, values), np.int64, n)  # type: ignore[arg-type]
    else:
        encoded = [b"" if v is None else v.encode("utf-8") for v in values]
        data = b"".join(encoded)
        lengths = np.fromiter(map(len, encoded), np.int64, n)
    if not large and len(data) >= 2**31:
        raise ValueError("over 2 GiB of strings in one string column: use large=True")
    offsets = np.zeros(n + 1, np.int64 if large else np.int32)
    offsets[1:] = np.cumsum(lengths)
    validity = _validity([v is not None for v in values]) if nulls else None
    kind = pa.large_string() if large else pa.string()
    return pa.Array.from_buffers(kind, n, [validity, pa.py_buffer(offsets), pa.py_buffer(data)])


def int_array(values: list[int | None]) -> pa.Array:
    """`pa.array(values, pa.int64())`: the same array (see `string_array`)."""
    return number_array(values, pa.int64())


def number_array(values: list[Any], kind: pa.DataType) -> pa.Array:
    """`pa.array(values, kind)` for an integer or float type: the same array (see `string_array`)."""
    nulls = None in values
    data = np.fromiter((0 if v is None else v for v in values) if nulls else values, _NUMPY[kind], len(values))
    validity = _validity([v is not None for v in values]) if nulls else None
    return pa.Array.from_buffers(kind, len(values), [validity, pa.py_buffer(data)])


def bool_array(values: list[bool | None]) -> pa.Array:
    """`pa.array(values, pa.bool_())`: the same array (see `string_array`)."""
    nulls = None in values
    bits = np.packbits(np.fromiter((v is True for v in values), np.bool_, len(values)), bitorder="little")
    validity = _validity([v is not None for v in values]) if nulls else None
    return pa.Array.from_buffers(pa.bool_(), len(values), [validity, pa.py_buffer(bits)])


def table_from_rows(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """`pa.Table.from_pylist(rows, schema=schema)`, column by column: string, integer, float and boolean columns
    from buffers (above), other types by `pa.array` (which imports pandas, once a process). A key missing from a row is
    a null, as in `from_pylist`."""
    columns = []
    for field in schema:
        values = [row.get(field.name) for row in rows]
        if field.type in (pa.string(), pa.large_string()) and all(type(v) is str or v is None for v in values):
            columns.append(string_array(values, large=field.type == pa.large_string()))
        elif field.type == pa.bool_() and all(type(v) is bool or v is None for v in values):
            columns.append(bool_array(values))
        elif field.type in _NUMPY and all(type(v) in (int, float) or v is None for v in values):
            if pa.types.is_integer(field.type) and not all(type(v) is int or v is None for v in values):
                columns.append(pa.array(values, field.type))  # a float in an integer column: Arrow's own check
            else:
                columns.append(number_array(values, field.type))
        else:
            columns.append(pa.array(values, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _validity(valid: list[bool]) -> pa.Buffer | None:
    """Arrow's validity bitmap of the values (little-endian bits), or None when none is null."""
    mask = np.array(valid, np.bool_)
    return None if mask.all() else pa.py_buffer(np.packbits(mask, bitorder="little"))

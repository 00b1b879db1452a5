"""Feature values read back from stored records, made safe for pandas: what cannot be used becomes missing, counted.

Every reader of stored records (the drift check's windows, the retrain's training frame) builds its columns here,
so that no single accepted record can stop a run. A value is *unusable* when pandas, numpy or Arrow cannot hold
it as a feature value:

- a number outside the double range (a JSON integer of 400 digits: `float()` and `pd.to_numeric` overflow);
- a non-finite float (a `NaN` or `Infinity` token, which the contract refuses today but older records may hold);
- text holding a lone surrogate (`"\\udc00"`: valid JSON, but not encodable as UTF-8, so Arrow-backed strings,
  Parquet and every UTF-8 writer refuse it);
- anything but a JSON scalar (a nested object or array).

An unusable value becomes None and is counted per feature; a feature *name* holding a lone surrogate cannot be a
column of any model (schemas come from UTF-8 files), so its column is dropped and its values are counted under
the name's escaped text (`\\udc00`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

MAX_FLOAT = sys.float_info.max
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT, _FLOAT, _STR = 2, 3, 4
#: The JSON scalars' Python types, by code (bool is not int here: `type`, not `isinstance`).
_KINDS: dict[type, int] = {type(None): 0, bool: 1, int: _INT, float: _FLOAT, str: _STR}


def has_surrogate(text: str) -> bool:
    """Whether `text` holds a lone surrogate (a code point UTF-8 cannot encode)."""
    return _SURROGATE.search(text) is not None


def printable(text: str) -> str:
    """`text` with every lone surrogate escaped (`\\udc00`): safe to encode as UTF-8 and to show."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if has_surrogate(text) else text


def usable_values(values: Sequence[Any]) -> tuple[pd.Series[Any], int]:
    """The values as an object Series with every unusable one (module docstring) replaced by None, and how many
    were replaced. Nothing is inferred or converted, so building the Series cannot fail."""
    series = pd.Series(values, dtype=object)
    if series.empty:
        return series, 0
    kinds = series.map(type).map(_KINDS).to_numpy(dtype=np.float64)  # NaN: not a JSON scalar
    unusable = np.isnan(kinds)
    is_int, is_float, is_str = kinds == _INT, kinds == _FLOAT, kinds == _STR
    objects = series.to_numpy(dtype=object)
    if is_int.any():
        ints = objects[is_int]  # Python ints, compared exactly with the largest double
        unusable[is_int] = (ints > MAX_FLOAT) | (ints < -MAX_FLOAT)
    if is_float.any():
        unusable[is_float] = ~np.isfinite(objects[is_float].astype(np.float64))
    if is_str.any():
        unusable[is_str] = series[is_str].str.contains(_SURROGATE).to_numpy(dtype=bool)
    n_unusable = int(unusable.sum())
    if n_unusable:
        series = series.mask(unusable, None)
    return series, n_unusable


def usable_frame(
    features: Mapping[str, Sequence[Any]], n_rows: int, names: Sequence[str] | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """A frame of the feature columns (only `names` when given) with unusable values as None, and the count of
    unusable values per feature (a dropped name's values under its escaped name); see the module docstring."""
    columns: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for name in features if names is None else [name for name in names if name in features]:
        values = features[name]
        if has_surrogate(name):
            present = int(pd.Series(values, dtype=object).notna().sum())
            if present:
                counts[printable(name)] = counts.get(printable(name), 0) + present
            continue
        column, n_unusable = usable_values(values)
        # Re-inferred from clean values: numbers become float64 or int64, text the string dtype, as before.
        columns[name] = pd.Series(column.tolist()) if not column.empty else column
        if n_unusable:
            counts[name] = n_unusable
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n_rows))
    return frame, counts

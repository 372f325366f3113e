"""Object graph → (JSON-ready document, named numeric arrays), through ``__getstate__``."""

from __future__ import annotations

import base64
import enum
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.lifecycle.codec.classes import (
    ARRAY_KINDS,
    EXTRA_CLASSES,
    NUMPY_TYPES,
    PACKAGE,
    SPARSE,
    TAG,
    CodecError,
    allowed,
    class_path,
)


class Encoder:
    """One pass over an object graph: ``doc`` (JSON-ready) plus ``arrays`` (name → ndarray)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._memo: dict[int, int] = {}
        self._keep: list[object] = []  # memoised objects stay alive: their ids stay unique

    def __call__(self, obj: object, path: str = "") -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, float)) and type(obj) in (int, float):
            return obj
        if isinstance(obj, list):
            return [self(v, f"{path}.{i}") for i, v in enumerate(obj)]
        if isinstance(obj, dict):
            return self._dict(obj, path)
        if isinstance(obj, tuple) and type(obj) is tuple:
            return {TAG: "tuple", "v": [self(v, f"{path}.{i}") for i, v in enumerate(obj)]}
        if isinstance(obj, (set, frozenset)):
            items = sorted(obj, key=repr)
            return {
                TAG: type(obj).__name__,
                "v": [self(v, f"{path}.{i}") for i, v in enumerate(items)],
            }
        scalar = _scalar(obj)
        if scalar is not None:
            return scalar
        if id(obj) in self._memo:
            return {TAG: "ref", "id": self._memo[id(obj)]}
        ref = self._memo[id(obj)] = len(self._memo)
        self._keep.append(obj)
        return {**self._object(obj, path), "id": ref}

    def _dict(self, obj: dict, path: str) -> Any:
        if all(type(k) is str for k in obj) and TAG not in obj:
            return {k: self(v, f"{path}.{k}") for k, v in obj.items()}
        items = [
            [self(k, f"{path}.k{i}"), self(v, f"{path}.{i}")]
            for i, (k, v) in enumerate(obj.items())
        ]
        return {TAG: "dict", "v": items}

    def array(self, a: np.ndarray, path: str) -> Any:
        """A numeric array by name (a table entry), else its values as JSON."""
        if a.dtype.kind in ARRAY_KINDS and not a.dtype.fields:
            name = path.lstrip(".") or "root"
            self.arrays[name] = np.ascontiguousarray(a)
            return {TAG: "nd", "name": name}
        if a.dtype.kind in "mM":
            unit = np.datetime_data(a.dtype)[0]
            kind = "datetime64" if a.dtype.kind == "M" else "timedelta64"
            return {
                TAG: "nd_time",
                "dtype": f"{kind}[{unit}]",
                "v": self.array(a.view(np.int64), path),
            }
        if a.dtype.kind == "O" and a.ndim == 1 and all(type(v) is str for v in a):
            return {TAG: "nd_str", "v": self.strings(a, path)}  # ids, titles: bytes + offsets
        if a.dtype.kind in "OUS" and not a.dtype.fields:
            kind = "O" if a.dtype.kind == "O" else str(a.dtype)
            values = [self(v, f"{path}.{i}") for i, v in enumerate(a.ravel().tolist())]
            return {TAG: "nd_obj", "dtype": kind, "shape": list(a.shape), "v": values}
        raise CodecError(f"{path}: arrays of dtype {a.dtype} cannot be stored")

    def _object(self, obj: object, path: str) -> dict:
        if isinstance(obj, np.ndarray):
            return self.array(obj, path)
        if sp.issparse(obj):
            return self._sparse(obj, path)
        if isinstance(obj, pd.DataFrame):
            columns = [
                self._series_values(obj.iloc[:, i], f"{path}.c{i}") for i in range(obj.shape[1])
            ]
            names = [self(c, f"{path}.name{i}") for i, c in enumerate(obj.columns)]
            return {
                TAG: "pd.DataFrame",
                "names": names,
                "columns": columns,
                "index": self._index(obj.index, path),
            }
        if isinstance(obj, pd.Series):
            return {
                TAG: "pd.Series",
                "name": self(obj.name, path),
                "values": self._series_values(obj, path),
                "index": self._index(obj.index, path),
            }
        if isinstance(obj, type):
            return self._class_ref(obj, path)
        if isinstance(obj, enum.Enum):
            return {TAG: "enum", "cls": self._checked(type(obj), path), "v": self(obj.value, path)}
        return self._instance(obj, path)

    def _checked(self, cls: type, path: str) -> str:
        name = class_path(cls)
        if not allowed(name) or not (
            name in EXTRA_CLASSES or cls.__module__.startswith(f"{PACKAGE}.")
        ):
            raise CodecError(f"{path or 'root'}: objects of {name} cannot be stored in an artifact")
        return name

    def _class_ref(self, cls: type, path: str) -> dict:
        if cls.__module__ == "numpy" and cls.__name__ in NUMPY_TYPES:
            return {TAG: "np.type", "v": cls.__name__}
        return {TAG: "class", "v": self._checked(cls, path)}

    def _instance(self, obj: object, path: str) -> dict:
        name = self._checked(type(obj), path)
        state = obj.__getstate__()
        if state is None:
            state = {}
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            slots = state[1]  # (__dict__ or None, __slots__ values), as object.__getstate__
            state = {**(state[0] or {}), **slots}
        return {TAG: "obj", "cls": name, "state": self(state, f"{path}")}

    def _sparse(self, m: Any, path: str) -> dict:
        fmt = m.format
        if fmt not in SPARSE:
            m, fmt = m.tocsr(), "csr"
        parts = (
            {"row": m.row, "col": m.col}
            if fmt == "coo"
            else {"indices": m.indices, "indptr": m.indptr}
        )
        enc = {k: self.array(v, f"{path}.{k}") for k, v in {"data": m.data, **parts}.items()}
        return {TAG: "sparse", "format": fmt, "shape": list(m.shape), **enc}

    def _series_values(self, s: pd.Series, path: str) -> dict:
        dtype = s.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in ARRAY_KINDS | set("mM"):
            return {"dtype": str(dtype), "v": self.array(s.to_numpy(), path)}
        if isinstance(dtype, pd.CategoricalDtype):
            cats = self._series_values(pd.Series(dtype.categories), f"{path}.categories")
            return {
                "dtype": "category",
                "ordered": bool(dtype.ordered),
                "categories": cats,
                "codes": self.array(s.cat.codes.to_numpy(), f"{path}.codes"),
            }
        if isinstance(dtype, pd.StringDtype):  # UTF-8 bytes + offsets: no per-cell JSON
            return {"dtype": str(dtype), "storage": dtype.storage, "str": self.strings(s, path)}
        values = [self(v, f"{path}.{i}") for i, v in enumerate(s.astype(object).tolist())]
        return {"dtype": str(dtype), "list": values}

    def strings(self, values: Any, path: str) -> dict:
        """Text cells as Arrow's large-string layout in two arrays (+ a null mask)."""
        import pyarrow as pa

        arr = pa.array(values, type=pa.large_string(), from_pandas=True)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        n = len(arr)
        offsets = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset : arr.offset + n + 1]
        data = np.frombuffer(arr.buffers()[2] or b"", np.uint8)[offsets[0] : offsets[-1]]
        out = {
            "offsets": self.array(offsets - offsets[0], f"{path}.offsets"),
            "data": self.array(data, f"{path}.data"),
        }
        if arr.null_count:
            mask = arr.is_null().to_numpy(zero_copy_only=False)
            out["mask"] = self.array(np.asarray(mask, dtype=bool), f"{path}.mask")
        return out

    def _index(self, index: pd.Index, path: str) -> Any:
        if isinstance(index, pd.RangeIndex):
            return {"range": [index.start, index.stop, index.step], "name": self(index.name, path)}
        return {
            "values": self._series_values(index.to_series(), f"{path}.index"),
            "name": self(index.name, path),
        }


def _scalar(obj: object) -> Any:
    """Tagged JSON for a scalar that JSON has no type for, else None."""
    if isinstance(obj, np.generic):
        if isinstance(obj, np.datetime64 | np.timedelta64):
            unit = np.datetime_data(obj.dtype)[0]
            return {
                TAG: "np.time",
                "dtype": str(obj.dtype),
                "v": int(obj.view(np.int64)),
                "unit": unit,
            }
        if obj.dtype.kind in ARRAY_KINDS:
            return {TAG: "np.scalar", "dtype": str(obj.dtype), "v": obj.item()}
        return None
    if obj is pd.NaT:
        return {TAG: "NaT"}
    if obj is pd.NA:
        return {TAG: "NA"}
    if isinstance(obj, pd.Timestamp):
        return {TAG: "pd.Timestamp", "v": obj.isoformat()}
    if isinstance(obj, datetime):
        return {TAG: "datetime", "v": obj.isoformat()}
    if isinstance(obj, date):
        return {TAG: "date", "v": obj.isoformat()}
    if isinstance(obj, timedelta):
        return {TAG: "timedelta", "v": obj.total_seconds()}
    if isinstance(obj, bytes):
        return {TAG: "bytes", "v": base64.b64encode(obj).decode()}
    if isinstance(obj, int | float):  # subclasses (e.g. an IntEnum is handled before)
        return None
    return None


def encode(obj: object) -> tuple[Any, dict[str, np.ndarray]]:
    """(JSON-ready document, numeric arrays by name) of ``obj``; CodecError if a part of it
    is not storable (a function, a class outside the allow-list, an unknown type)."""
    enc = Encoder()
    return enc(obj), enc.arrays

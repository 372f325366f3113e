"""A model object graph as JSON plus named arrays, and back, running no code the bytes choose.

:func:`encode` walks an object the way pickle does — through ``__getstate__`` — but writes
only data: plain JSON for str/int/float/bool/None/list/dict, a tagged JSON object (``"$t"``)
for everything else, and each numeric numpy array (sparse matrices' and data frames'
included) as an entry of a flat ``{name: ndarray}`` table, stored by
:mod:`recommender.lifecycle.tensors` in a safetensors file. :func:`decode` rebuilds the graph:

- an object of a class **defined in the installed** ``recommender`` **package** (found by
  module and name, checked to be a class defined there) or of one of :data:`EXTRA_CLASSES`
  is made with ``cls.__new__`` and given its state by its own ``__setstate__`` (or its
  ``__dict__``), as unpickling does, so derived state is rebuilt by the class's own code;
- numpy arrays, scipy sparse matrices and pandas frames by explicit handlers;
- no ``eval``, no import of a name the allow-list does not name, no pickle anywhere.

Shared objects are written once and referenced (``{"$t": "ref"}``), so identity (and memory)
is kept as pickle keeps it.
"""

from __future__ import annotations

import base64
import enum
import importlib
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

#: classes outside ``recommender`` whose state is restored like ours (pure data estimators)
EXTRA_CLASSES = frozenset(
    {
        "sklearn.feature_extraction.text.TfidfVectorizer",
        "sklearn.feature_extraction.text.TfidfTransformer",
    }
)
PACKAGE = "recommender"
#: numpy scalar types a state may name (e.g. TfidfVectorizer's ``dtype`` parameter)
NUMPY_TYPES = frozenset(
    [
        "bool_",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
    ]
)
#: numeric dtypes stored as arrays; everything else is JSON
ARRAY_KINDS = frozenset("biuf")
SPARSE = {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "coo": sp.coo_matrix}
_MODULE = re.compile(r"recommender(\.[A-Za-z_][A-Za-z0-9_]*)+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
TAG = "$t"
_PLAIN = frozenset({str, int, float, bool, type(None)})


class CodecError(ValueError):
    """An object cannot be encoded, or an encoded document names something not allowed."""


# ---------------------------------------------------------------- classes
def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def allowed(path: str) -> bool:
    """True for a class path the decoder may resolve."""
    if path in EXTRA_CLASSES:
        return True
    module, _, name = path.rpartition(".")
    return bool(_MODULE.fullmatch(module)) and bool(_NAME.fullmatch(name))


def resolve_class(path: str) -> type:
    """The class at ``path``: a class defined in the installed ``recommender`` package (or in
    :data:`EXTRA_CLASSES`). Anything else raises CodecError without being imported."""
    if not allowed(path):
        raise CodecError(f"class {path!r} is not allowed in a model artifact")
    if path in EXTRA_CLASSES:
        module, _, name = path.rpartition(".")
    else:  # longest module prefix that imports: nested classes are "mod.Outer.Inner"
        parts = path.split(".")
        if any(p.startswith("__") for p in parts):
            raise CodecError(f"class {path!r} is not allowed in a model artifact")
        for cut in range(len(parts) - 1, 1, -1):
            module, name = ".".join(parts[:cut]), ".".join(parts[cut:])
            try:
                importlib.import_module(module)  # a module of the installed package only
                break
            except ImportError:
                continue
        else:
            raise CodecError(f"class {path!r}: no such module in {PACKAGE}")
    try:
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise CodecError(f"class {path!r} not found ({exc})") from None
    if not isinstance(obj, type) or class_path(obj) != path:
        raise CodecError(f"{path!r} is not a class defined there")
    return obj


# ---------------------------------------------------------------- encode
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


# ---------------------------------------------------------------- decode
class Decoder:
    """Rebuild what :class:`Encoder` wrote; ``arrays`` are the stored arrays by name."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self._refs: dict[int, object] = {}

    def __call__(self, doc: Any) -> Any:
        if isinstance(doc, list):
            if all(type(v) in _PLAIN for v in doc):
                return doc  # a list of plain values (the common case): nothing to rebuild
            return [self(v) for v in doc]
        if not isinstance(doc, dict):
            return doc  # str, int, float, bool, None
        tag = doc.get(TAG)
        if tag is None:
            return {k: self(v) for k, v in doc.items()}
        handler = _HANDLERS.get(tag) if isinstance(tag, str) else None
        if handler is None:
            raise CodecError(f"unknown tag {tag!r}")
        return handler(self, doc)

    def remember(self, doc: dict, obj: object) -> object:
        if "id" in doc:
            self._refs[int(doc["id"])] = obj
        return obj

    def array(self, doc: dict) -> np.ndarray:
        tag = doc.get(TAG)
        if tag == "nd":
            try:
                return self.arrays[doc["name"]]
            except KeyError:
                raise CodecError(f"array {doc['name']!r} is missing") from None
        if tag == "nd_time":
            return self.array(doc["v"]).view(_time_dtype(doc["dtype"]))
        if tag == "nd_str":
            return self.strings(doc["v"]).to_numpy(zero_copy_only=False)
        if tag == "nd_obj":
            dtype = object if doc["dtype"] == "O" else _plain_dtype(doc["dtype"], "US")
            values = [self(v) for v in doc["v"]]
            out = np.empty(len(values), dtype=dtype)
            out[:] = values if dtype is not object else _object_list(values)
            return out.reshape([int(n) for n in doc["shape"]])
        raise CodecError(f"not an array: {tag!r}")

    def series_values(self, doc: dict) -> Any:
        dtype = doc["dtype"]
        if "v" in doc:
            a = self.array(doc["v"])
            want = (
                np.dtype(dtype)
                if dtype.startswith(("datetime64", "timedelta64"))
                else _plain_dtype(dtype, ARRAY_KINDS)
            )
            if a.dtype != want:
                raise CodecError(f"column dtype {a.dtype} is not the recorded {want}")
            return a
        if dtype == "category":
            cats = pd.Index(self.series_values(doc["categories"]))
            codes = self.array(doc["codes"])
            return pd.Categorical.from_codes(codes, categories=cats, ordered=bool(doc["ordered"]))
        if "str" in doc:
            return pd.array(self.strings(doc["str"]), dtype=_pandas_dtype(dtype))
        values = [self(v) for v in doc["list"]]
        if dtype == "object":
            return np.array(_object_list(values), dtype=object)
        return pd.array(values, dtype=_pandas_dtype(dtype))

    def strings(self, doc: dict) -> Any:
        """A pyarrow large-string array over the stored bytes (no copy), fully validated:
        a signed but malformed file is an error, never an out-of-bounds read."""
        import pyarrow as pa

        offsets, data = self.array(doc["offsets"]), self.array(doc["data"])
        if offsets.dtype != np.int64 or data.dtype != np.uint8 or offsets.ndim != 1:
            raise CodecError("text column: offsets must be int64, data uint8")
        n = len(offsets) - 1
        if n < 0 or offsets[0] != 0 or offsets[-1] != len(data) or np.any(np.diff(offsets) < 0):
            raise CodecError("text column: offsets do not describe the data")
        validity = None
        if "mask" in doc:
            mask = self.array(doc["mask"])
            if mask.dtype != np.bool_ or mask.shape != (n,):
                raise CodecError("text column: the null mask does not match")
            validity = pa.py_buffer(np.packbits(~mask, bitorder="little"))
        arr = pa.LargeStringArray.from_buffers(
            n, pa.py_buffer(offsets), pa.py_buffer(data), validity
        )
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise CodecError(f"text column: {exc}") from None
        return arr

    def index(self, doc: dict) -> pd.Index:
        name = self(doc.get("name"))
        if "range" in doc:
            start, stop, step = (int(x) for x in doc["range"])
            return pd.RangeIndex(start, stop, step, name=name)
        return pd.Index(self.series_values(doc["values"]), name=name)


def _object_list(values: list) -> np.ndarray:
    """A 1-D object array of ``values`` (np.array would nest lists and tuples)."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def _plain_dtype(name: str, kinds: Any) -> np.dtype:
    try:
        dtype = np.dtype(name)
    except TypeError:
        raise CodecError(f"dtype {name!r} is not allowed") from None
    if dtype.kind not in kinds or dtype.fields or dtype.subdtype:
        raise CodecError(f"dtype {name!r} is not allowed")
    return dtype


def _time_dtype(name: str) -> np.dtype:
    if not re.fullmatch(r"(datetime64|timedelta64)\[[a-z]{1,2}\]", name):
        raise CodecError(f"dtype {name!r} is not allowed")
    return np.dtype(name)


def _pandas_dtype(name: str) -> Any:
    """A pandas extension dtype by its name (``str``, ``Int64``, ``boolean`` …)."""
    from pandas.api.types import pandas_dtype

    if not re.fullmatch(r"[A-Za-z0-9_\[\], =:]{1,64}", name):
        raise CodecError(f"dtype {name!r} is not allowed")
    try:
        return pandas_dtype(name)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"dtype {name!r}: {exc}") from None


def _new_object(dec: Decoder, doc: dict) -> object:
    cls = resolve_class(str(doc["cls"]))
    obj = cls.__new__(cls)
    dec.remember(doc, obj)  # before its state: a cycle back to it finds it
    state = dec(doc["state"])
    setstate = getattr(cls, "__setstate__", None)
    if setstate is not None and setstate is not getattr(object, "__setstate__", None):
        obj.__setstate__(state)
    elif isinstance(state, dict):
        for key, value in state.items():
            object.__setattr__(obj, key, value)  # frozen dataclasses too, as unpickling
    else:
        raise CodecError(f"{doc['cls']}: state is {type(state).__name__}, not a dict")
    return obj


def _ref(dec: Decoder, doc: dict) -> object:
    try:
        return dec._refs[int(doc["id"])]
    except KeyError:
        raise CodecError(f"reference to unknown object {doc['id']!r}") from None


def _sparse(dec: Decoder, doc: dict) -> object:
    fmt = doc["format"]
    if fmt not in SPARSE:
        raise CodecError(f"sparse format {fmt!r} is not allowed")
    shape = tuple(int(n) for n in doc["shape"])
    data = dec.array(doc["data"])
    if fmt == "coo":
        m = sp.coo_matrix((data, (dec.array(doc["row"]), dec.array(doc["col"]))), shape=shape)
    else:
        parts = (data, dec.array(doc["indices"]), dec.array(doc["indptr"]))
        m = SPARSE[fmt](parts, shape=shape, copy=False)
    return dec.remember(doc, m)


def _frame(dec: Decoder, doc: dict) -> pd.DataFrame:
    names = [dec(n) for n in doc["names"]]
    columns = [dec.series_values(c) for c in doc["columns"]]
    index = dec.index(doc["index"])
    frame = pd.DataFrame(dict(enumerate(columns)), index=index, copy=False)
    frame.columns = pd.Index(names, dtype=object) if names else frame.columns
    return dec.remember(doc, frame)


def _series(dec: Decoder, doc: dict) -> pd.Series:
    values = dec.series_values(doc["values"])
    s = pd.Series(values, index=dec.index(doc["index"]), name=dec(doc["name"]), copy=False)
    return dec.remember(doc, s)


def _numpy_type(dec: Decoder, doc: dict) -> type:
    name = doc["v"]
    if name not in NUMPY_TYPES:
        raise CodecError(f"numpy type {name!r} is not allowed")
    return getattr(np, name)


def _np_scalar(dec: Decoder, doc: dict) -> np.generic:
    return _plain_dtype(doc["dtype"], ARRAY_KINDS).type(doc["v"])


def _np_time(dec: Decoder, doc: dict) -> np.generic:
    return np.array(int(doc["v"]), dtype=np.int64).view(_time_dtype(doc["dtype"]))[()]


def _enum(dec: Decoder, doc: dict) -> object:
    cls = resolve_class(str(doc["cls"]))
    if not issubclass(cls, enum.Enum):
        raise CodecError(f"{doc['cls']} is not an enum")
    return dec.remember(doc, cls(dec(doc["v"])))


_HANDLERS: dict[str, Callable[[Decoder, dict], Any]] = {
    "obj": _new_object,
    "ref": _ref,
    "tuple": lambda d, doc: tuple(d(v) for v in doc["v"]),
    "set": lambda d, doc: {d(v) for v in doc["v"]},
    "frozenset": lambda d, doc: frozenset(d(v) for v in doc["v"]),
    "dict": lambda d, doc: {d(k): d(v) for k, v in doc["v"]},
    "nd": lambda d, doc: d.remember(doc, d.array(doc)),
    "nd_time": lambda d, doc: d.remember(doc, d.array(doc)),
    "nd_obj": lambda d, doc: d.remember(doc, d.array(doc)),
    "nd_str": lambda d, doc: d.remember(doc, d.array(doc)),
    "sparse": _sparse,
    "pd.DataFrame": _frame,
    "pd.Series": _series,
    "np.type": _numpy_type,
    "class": lambda d, doc: resolve_class(str(doc["v"])),
    "enum": _enum,
    "np.scalar": _np_scalar,
    "np.time": _np_time,
    "NaT": lambda d, doc: pd.NaT,
    "NA": lambda d, doc: pd.NA,
    "pd.Timestamp": lambda d, doc: pd.Timestamp(str(doc["v"])),
    "datetime": lambda d, doc: datetime.fromisoformat(str(doc["v"])),
    "date": lambda d, doc: date.fromisoformat(str(doc["v"])),
    "timedelta": lambda d, doc: timedelta(seconds=float(doc["v"])),
    "bytes": lambda d, doc: base64.b64decode(str(doc["v"]), validate=True),
}


def decode(doc: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The object :func:`encode` described; CodecError names what is not allowed."""
    return Decoder(arrays)(doc)

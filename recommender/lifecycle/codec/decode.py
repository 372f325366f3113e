"""(document, named arrays) → object graph: allow-listed classes only, nothing else runs."""

from __future__ import annotations

import base64
import enum
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.lifecycle.codec.classes import (
    _PLAIN,
    ARRAY_KINDS,
    NUMPY_TYPES,
    SPARSE,
    TAG,
    CodecError,
    resolve_class,
)


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

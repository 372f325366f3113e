"""The allow-list: which classes a model artifact may name, and how they are found."""

from __future__ import annotations

import importlib
import re
from typing import Any

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

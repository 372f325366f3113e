"""Numeric arrays in a safetensors file: a length, a JSON header, then the raw bytes.

The format (https://github.com/huggingface/safetensors) holds only numbers: reading it runs
no code, whatever the bytes. Written and read here rather than through the ``safetensors``
package for two reasons (tests check the files against that package):

- reading returns **views of the verified bytes** (``np.frombuffer``), no copy: the bytes
  used are the bytes whose signature was checked, and a reload costs no per-element work;
- the header length is padded so that its first byte is a space (0x20): no prefix of the file
  is a valid pickle, so no pickle loader accepts the file by accident.

Arrays are laid out largest item size first, so every array is aligned to its item size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

#: safetensors dtype codes of the dtypes stored (numeric only)
DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F64": np.dtype("<f8"),
}
_CODES = {dtype: code for code, dtype in DTYPES.items()}
_LEN = 8
#: low byte of the header length: 0x20 (a space) is no pickle opcode
_FIRST_BYTE = 0x20
MAX_HEADER = 100 * 2**20


class TensorFileError(ValueError):
    """A tensor file is malformed (a header, a dtype, a shape or an offset is off)."""


def _code(a: np.ndarray) -> str:
    dtype = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
    try:
        return _CODES[np.dtype(dtype)]
    except KeyError:
        raise TensorFileError(f"dtype {a.dtype} cannot be stored in a tensor file") from None


def dumps(arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> bytearray:
    """The bytes of a safetensors file holding ``arrays`` (C order, little-endian)."""
    order = sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k))
    header: dict[str, object] = {"__metadata__": dict(metadata or {})}
    offset = 0
    for name in order:
        a = arrays[name]
        size = a.nbytes
        header[name] = {
            "dtype": _code(a),
            "shape": list(a.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    pad = (_FIRST_BYTE - len(raw)) % 256  # spaces after the JSON: allowed by the format
    head = raw + b" " * pad
    out = bytearray(_LEN + len(head) + offset)
    out[:_LEN] = len(head).to_bytes(_LEN, "little")
    out[_LEN : _LEN + len(head)] = head
    at = _LEN + len(head)
    for name in order:
        a = np.ascontiguousarray(arrays[name])
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        out[at : at + a.nbytes] = a.reshape(-1).view(np.uint8).tobytes() if a.nbytes else b""
        at += a.nbytes
    return out


def loads(buf: bytes | bytearray | memoryview) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(arrays by name, metadata) of a safetensors file; each array a view of ``buf``.

    Every header entry is checked (known dtype, non-negative shape, offsets inside the data
    and matching the shape) before a view is made; TensorFileError says which is off.
    """
    view = memoryview(buf).cast("B")
    if len(view) < _LEN:
        raise TensorFileError("file shorter than its header length")
    n = int.from_bytes(view[:_LEN], "little")
    if n > min(MAX_HEADER, len(view) - _LEN):
        raise TensorFileError(f"header length {n} exceeds the file")
    try:
        header = json.loads(bytes(view[_LEN : _LEN + n]).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TensorFileError(f"header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise TensorFileError("header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise TensorFileError("__metadata__ is not an object")
    data = view[_LEN + n :]
    arrays = {}
    for name, entry in header.items():
        arrays[name] = _entry(name, entry, data)
    return arrays, {str(k): str(v) for k, v in metadata.items()}


def _entry(name: str, entry: object, data: memoryview) -> np.ndarray:
    try:
        dtype = DTYPES[entry["dtype"]]  # type: ignore[index]
        shape = [int(d) for d in entry["shape"]]  # type: ignore[index]
        begin, end = (int(x) for x in entry["data_offsets"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        raise TensorFileError(f"entry {name!r}: malformed ({entry!r:.200})") from None
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if any(d < 0 for d in shape) or not 0 <= begin <= end <= len(data):
        raise TensorFileError(f"entry {name!r}: offsets {begin}..{end} outside the data")
    if end - begin != count * dtype.itemsize:
        raise TensorFileError(f"entry {name!r}: {end - begin} bytes for shape {shape} {dtype}")
    a = np.frombuffer(data, dtype=dtype, count=count, offset=begin) if count else np.empty(0, dtype)
    if not a.flags.aligned:  # only files written elsewhere: copy rather than slow every use
        a = a.copy()
    return a.reshape(shape)

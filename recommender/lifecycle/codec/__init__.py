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

from recommender.lifecycle.codec.classes import (
    EXTRA_CLASSES,
    CodecError,
    allowed,
    resolve_class,
)
from recommender.lifecycle.codec.decode import Decoder, decode
from recommender.lifecycle.codec.encode import Encoder, encode

__all__ = [
    "EXTRA_CLASSES",
    "CodecError",
    "Decoder",
    "Encoder",
    "allowed",
    "decode",
    "encode",
    "resolve_class",
]

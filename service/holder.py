"""The loaded model behind one reference: requests read it once, reloads swap it atomically.

Reading ``holder.current`` is a single attribute load (atomic in CPython), so the hot path
takes no lock; a reload builds and smoke-checks the new model completely before the swap,
and a model that fails to load or to answer is refused while the old one keeps serving.

The arrays are memory-mapped read-only (``load_model(mmap=True)``): every worker on a host
reads the same page-cache pages of ``arrays.safetensors``, verified before use.

After each swap the objects alive are frozen out of the garbage collector's reach
(:func:`gc.freeze`): a full collection of a serving process otherwise walks every module's
objects (~60 ms holding the GIL, triggered by the allocations of each reload), and a model
holds no reference cycles, so a replaced one is still freed by reference counting.
"""

from __future__ import annotations

import gc
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recommender import ArtifactError, RecommenderModel, load_model, resolve, smoke_check

log = logging.getLogger(__name__)

VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class VersionNotFound(LookupError):
    """A version asked for by name is not under the models root."""


@dataclass(frozen=True)
class Loaded:
    """One loaded model and where it came from."""

    model: RecommenderModel
    path: Path
    loaded_at: datetime

    @property
    def version(self) -> str:
        return self.model.version


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did."""

    loaded: Loaded
    previous_version: str | None
    changed: bool


class ModelHolder:
    """Holds the serving model; ``reload`` is thread-safe, reads need no lock."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.current: Loaded | None = None
        self.last_error: str | None = None
        self._reload_lock = threading.Lock()

    @property
    def version(self) -> str | None:
        loaded = self.current
        return loaded.version if loaded else None

    def target(self, version: str | None = None) -> Path:
        """The version directory a reload would load (``current`` unless ``version`` is named)."""
        if version is None:
            return resolve(self.root)
        if not VERSION_NAME.match(version):
            raise ValueError(f"{version[:64]!r} 不是模型版本名（如 20261128T105442Z-b712）")
        path = self.root / version
        if not path.is_dir():
            raise VersionNotFound(f"模型目录下没有版本 {version[:64]!r}")
        return resolve(path)

    def reload(self, version: str | None = None, *, force: bool = False) -> ReloadResult:
        """Load, smoke-check, then swap. Raises ArtifactError (old model kept) if refused."""
        with self._reload_lock:
            previous = self.current
            path = self.target(version)
            if previous is not None and previous.path == path and not force:
                return ReloadResult(previous, previous.version, changed=False)
            try:
                model = load_model(path, mmap=True)  # one copy of the arrays per host
                smoke_check(model)
            except ArtifactError as exc:
                self.last_error = str(exc)
                log.error("model at %s refused: %s", path, exc)
                raise
            except Exception as exc:  # unpickling can fail in many ways; never swap then
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("model at %s refused", path)
                raise ArtifactError(f"{path}: cannot be loaded ({self.last_error})") from exc
            loaded = Loaded(model, path, datetime.now(UTC))
            self.current = loaded
            self.last_error = None
            gc.collect()  # ~1 ms once the process is frozen: only what is new is walked
            gc.freeze()
            log.info(
                "serving model %s (was %s)", loaded.version, previous.version if previous else None
            )
            return ReloadResult(loaded, previous.version if previous else None, changed=True)

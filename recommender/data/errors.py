"""Exceptions of the data layer; every one names the file it is about."""

from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """Base class for data-contract problems; ``path`` names the offending file."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class UnreadableFileError(DataError):
    """The file is missing, empty, undecodable, too large or not a valid table file."""


class MissingColumnError(DataError):
    """A required column of the contract is absent from the file."""

    def __init__(self, message: str, *, path: Path | str, column: str) -> None:
        super().__init__(message, path=path)
        self.column = column

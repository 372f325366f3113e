"""Files written and read safely: one writer for every output of the library.

A planted symlink or FIFO where an output goes must never redirect, block or truncate
anything: ``ln -s ~/.bashrc dropbox/courses.rejects.csv`` once let attacker-chosen cell values
overwrite a shell start-up file. So every write here

- refuses a target that is a symlink or not a regular file (a FIFO, a device, a directory),
- writes a temporary file *in the target's directory* opened with ``O_CREAT | O_EXCL |
  O_NOFOLLOW`` (a name nobody else chose), fsyncs it, then renames it over the target: the
  rename replaces the directory entry, it never follows whatever was there;
- gives files holding personal data mode 0600 and the directories it creates for them 0700.

Reads of files the library itself wrote (artifacts, caches) go through :func:`read_regular`:
``O_NOFOLLOW | O_NONBLOCK`` and a check that the opened file is regular, so a FIFO named
like an artifact is refused at once instead of hanging the reader.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

#: mode of files holding personal data (and of everything under a private directory)
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PUBLIC_FILE = 0o644
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class UnsafePathError(OSError):
    """A path to read or write is a symlink, a FIFO or another non-regular file, or a private
    directory is not private; ``code`` is a stable English identifier."""

    def __init__(self, message: str, code: str = "unsafe_path") -> None:
        super().__init__(message)
        self.code = code

    def __str__(self) -> str:  # OSError's own __str__ would show "(None)" prefixes
        return str(self.args[0])


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "符号链接"
    if stat.S_ISFIFO(mode):
        return "命名管道（FIFO）"
    if stat.S_ISDIR(mode):
        return "目录"
    if stat.S_ISSOCK(mode):
        return "套接字"
    return "设备或其他非普通文件"


def check_target(path: str | Path) -> None:
    """Raise UnsafePathError when ``path`` exists and is not a regular file (lstat: a symlink
    counts as a symlink, whatever it points at)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError(
            f"拒绝写入 {path}：它是{_kind(st.st_mode)}，不是普通文件（unsafe_path）。"
            "请删除它或换一个输出位置",
            "unsafe_path",
        )


def private_dir(path: str | Path) -> Path:
    """``path`` as a directory only its owner can enter (0700), created if missing.

    An existing directory we own is tightened to 0700; one that is a symlink or is owned by
    another account is refused (UnsafePathError): a file put there could be read or swapped.
    """
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    st = os.lstat(p)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(
            f"私有目录 {p} 是{_kind(st.st_mode)}，不是目录（unsafe_path）", "unsafe_path"
        )
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise UnsafePathError(
            f"私有目录 {p} 属于其他账户（uid {st.st_uid}），拒绝使用（unsafe_path）",
            "unsafe_path",
        )
    if stat.S_IMODE(st.st_mode) != PRIVATE_DIR:
        os.chmod(p, PRIVATE_DIR)
    return p


def _output_dir(path: Path, private: bool) -> None:
    if private:
        if not path.parent.exists():
            private_dir(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)


def fsync_dir(path: str | Path) -> None:
    """Make a rename or a new entry in ``path`` durable (POSIX; a no-op elsewhere)."""
    if os.name != "posix":  # pragma: no cover
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_output(
    path: str | Path, *, private: bool = False, durable: bool = True
) -> Iterator[IO[bytes]]:
    """A binary file to write ``path`` through: a fresh temporary file beside it, renamed over
    ``path`` when the block ends without an exception (removed otherwise).

    ``private``: mode 0600 (personal data), and a missing parent directory is made 0700.
    ``durable``: fsync the file and the directory (artifacts, event exports).
    """
    path = Path(path)
    check_target(path)
    _output_dir(path, private)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    mode = PRIVATE_FILE if private else PUBLIC_FILE
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask: personal data is 0600, nothing wider
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        check_target(path)  # planted while we wrote: refuse rather than replace silently
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def write_bytes(
    path: str | Path, data: bytes | bytearray | memoryview, *, private: bool = False,
    durable: bool = True,
) -> Path:  # fmt: skip
    """Write ``data`` to ``path`` through :func:`open_output`; returns ``path``."""
    with open_output(path, private=private, durable=durable) as fh:
        fh.write(data)
    return Path(path)


def write_text(
    path: str | Path, text: str, *, private: bool = False, encoding: str = "utf-8"
) -> Path:
    """Write ``text`` to ``path`` through :func:`open_output`; returns ``path``."""
    return write_bytes(path, text.encode(encoding), private=private)


def open_regular(path: str | Path) -> IO[bytes]:
    """``path`` opened for reading, refused (UnsafePathError) unless it is a regular file.

    ``O_NOFOLLOW`` refuses a symlink as the last component; ``O_NONBLOCK`` makes opening a
    FIFO return at once (no writer needed), and fstat then refuses it: nothing blocks.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(
                f"拒绝读取 {path}：它是符号链接（unsafe_path）", "unsafe_path"
            ) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(
                f"拒绝读取 {path}：它是{_kind(st.st_mode)}，不是普通文件（unsafe_path）",
                "unsafe_path",
            )
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | Path) -> bytes:
    """The bytes of a regular file (see :func:`open_regular`)."""
    with open_regular(path) as fh:
        return fh.read()


def save_workbook(book: Any, path: str | Path, *, private: bool = False) -> Path:
    """An openpyxl workbook saved through :func:`open_output` (its ``save`` takes a file)."""
    with open_output(path, private=private) as fh:
        book.save(fh)
    return Path(path)


def create_private_file(path: str | Path) -> Path:
    """Make ``path`` an empty 0600 file (its missing folder 0700) unless it exists, before a
    library such as SQLite opens it with the umask's mode (0644): the event store holds cadre
    ids and their enrolments, and SQLite gives its -wal/-shm files the database file's mode.
    A symlink, FIFO or other non-regular file there is refused (UnsafePathError)."""
    path = Path(path)
    check_target(path)
    _output_dir(path, private=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, PRIVATE_FILE)
    except FileExistsError:
        check_target(path)  # created meanwhile by another process: still a regular file?
        return path
    os.close(fd)
    return path

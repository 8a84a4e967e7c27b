"""One writer per output folder: a lock file naming the holder's pid and host.

A run folder, a sweep folder and a judgements folder each take one while a command writes
them, so a second command on the same folder (an ``eval --resume`` on a run still running)
stops with an error naming the holder instead of appending a second copy of every record.

The lock is ``<folder>/.hawkeye.lock``, held with ``flock`` for as long as the writer runs: the
kernel releases it when the process dies however it dies, so a lock left by a dead process is
simply taken over (with a note naming the dead holder); the pid and host written in the file
are for the messages. A folder the lock had to create is removed again if it is still empty
when the lock is released.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.writable import OutputPathError, check_writable_folder

LOCK_FILE = ".hawkeye.lock"


class FolderLocked(HawkeyeError):
    """Another live process is writing the folder."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a folder lock."""

    pid: int | None
    host: str | None
    command: str | None = None

    @classmethod
    def me(cls, command: str | None) -> LockHolder:
        return cls(os.getpid(), socket.gethostname(), command)

    @classmethod
    def parse(cls, text: str) -> LockHolder | None:
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        pid, host, command = data.get("pid"), data.get("host"), data.get("command")
        return cls(
            pid if isinstance(pid, int) else None,
            host if isinstance(host, str) else None,
            command if isinstance(command, str) else None,
        )

    def describe(self) -> str:
        who = f"pid {self.pid if self.pid is not None else '?'} on {self.host or '?'}"
        return f"{who} ({self.command})" if self.command else who

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "host": self.host, "command": self.command}) + "\n"


class FolderLock:
    """``with FolderLock(folder, what="run folder", command="eval"):`` hold the folder's lock,
    or raise :class:`FolderLocked` naming the live holder (or
    :class:`~hawkeye_bench.core.writable.OutputPathError` if the folder cannot be written)."""

    def __init__(self, folder: Path | str, *, what: str = "folder", command: str | None = None):
        self.folder = Path(folder)
        self.what = what
        self.command = command
        self.took_over: LockHolder | None = None  # the dead holder whose lock was taken over
        self._fd: int | None = None
        self._created: list[Path] = []

    @property
    def path(self) -> Path:
        return self.folder / LOCK_FILE

    def acquire(self) -> FolderLock:
        check_writable_folder(self.folder, self.what)
        self._created = _create_folders(self.folder)
        try:
            while self._fd is None:
                self._fd = self._try_lock()
        except BaseException:
            self._remove_created()
            raise
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # unlinked while still held: no one sees it free
        finally:
            os.close(self._fd)
            self._fd = None
            self._remove_created()

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _try_lock(self) -> int | None:
        """The held lock's descriptor; None when the file was replaced under us (retry)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputPathError(
                f"cannot write the {self.what} {self.folder}: {exc.strerror or exc}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = LockHolder.parse(_read(fd))
            os.close(fd)
            who = holder.describe() if holder else "another process"
            raise FolderLocked(
                f"{self.folder} is being written by {who}: one writer per {self.what}; wait for "
                f"it to finish, or pick another --out (lock: {self.path})"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same_file = os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:  # released (unlinked) by its holder after our open
            same_file = False
        if not same_file:
            os.close(fd)
            return None
        previous = LockHolder.parse(_read(fd))
        if previous is not None and previous.pid != os.getpid():
            self.took_over = previous
            print(
                f"note: took over the lock of {self.folder} left by {previous.describe()}, "
                "which is no longer running",
                file=sys.stderr,
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, LockHolder.me(self.command).to_json().encode("utf-8"), 0)
        return fd

    def _remove_created(self) -> None:
        for folder in reversed(self._created):
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break
        self._created = []


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        return ""


def _create_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    missing.reverse()
    folder.mkdir(parents=True, exist_ok=True)
    return missing

"""The one check that an output path can be written, made by every command before any work.

An output folder that cannot be created (``--out /proc/x``), a file where a folder is wanted, or
a folder without write permission is a one-line :class:`OutputPathError`, not a traceback
halfway through. The check leaves nothing behind: folders it had to create to prove the point
are removed again (the command creates them when it writes).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from hawkeye_bench.core.errors import HawkeyeError


class OutputPathError(HawkeyeError):
    """An output folder or file that cannot be written."""


def check_writable_folder(folder: Path | str, what: str = "output folder") -> None:
    """Prove a file can be written in ``folder`` (created if missing, then removed again), or
    raise :class:`OutputPathError` naming ``what`` ("run folder", "--out folder", ...)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"cannot write the {what} {folder}: it is a file, not a folder")
    created: list[Path] = []
    try:
        current = folder
        while not current.exists():
            created.append(current)
            current = current.parent
        if not current.is_dir():
            raise OutputPathError(f"cannot write the {what} {folder}: {current} is not a folder")
        for missing in reversed(created):
            missing.mkdir()
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputPathError(f"cannot write the {what} {folder}: {exc.strerror or exc}") from exc
    finally:
        for made in created:  # innermost first; only the ones this check made
            with contextlib.suppress(OSError):
                made.rmdir()


def check_writable_file(path: Path | str, what: str = "output file") -> None:
    """Prove ``path`` can be written (its folder writable, ``path`` not a folder), or raise
    :class:`OutputPathError`; an existing file is left as it is."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"cannot write the {what} {path}: it is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputPathError(f"cannot write the {what} {path}: permission denied")
    check_writable_folder(path.parent, f"folder of the {what}")

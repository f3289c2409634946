"""Atomic, no-clobber file output shared by every writer in microsim."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from microsim.errors import InputFileError, OutputExistsError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; move it onto ``path`` on success.

    The target appears complete or not at all. An existing target is replaced only
    with ``force=True``; otherwise :class:`OutputExistsError` is raised before any work.
    """
    target = Path(path)
    if target.exists() and not force:
        raise OutputExistsError(f"{target} exists already; pass --force (force=True) to overwrite it")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputFileError(f"cannot write {target}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part" + target.suffix, dir=folder)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp's 0600 would outlive the rename
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def check_readable(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path, or raise :class:`InputFileError` if it is not a readable file."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"input file {p} does not exist")
    if not p.is_file():
        raise InputFileError(f"input {p} is not a file")
    if not os.access(p, os.R_OK):
        raise InputFileError(f"input file {p} is not readable")
    return p

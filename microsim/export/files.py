"""Atomic, no-clobber file output shared by every writer in microsim, and the one
check of a command's output paths made before any work.

Every writer goes through :func:`atomic_output`: the target appears complete or not at
all, and an existing target is replaced only with ``force``. A command checks all of
its outputs at once with :func:`check_outputs` before it reads or computes anything:
each path resolved (links followed), never one of the command's inputs, never the
same file as another output, never a folder, in a folder that exists and can be
written, with a name the file system takes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from microsim.errors import InputFileError, OutputExistsError

#: what a user types to overwrite (the CLI's spelling; the Python API says force=True)
FORCE_HINT = "pass --force to overwrite it"


def _name_too_long(target: Path) -> bool:
    folder = target.parent if str(target.parent) else Path(".")
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    return len(os.fsencode(target.name)) > limit


def check_output(path: str | os.PathLike, *, force: bool = False) -> Path:
    """``path`` as a Path, or the one error that writing it would meet.

    Raises
    ------
    OutputExistsError
        The file exists and ``force`` is not given.
    InputFileError
        The path is a folder, its folder is missing or not writable, or its name is
        too long for the file system.
    """
    target = Path(path)
    if target.is_dir():
        raise InputFileError(f"cannot write {target}: it is a folder, give a file name")
    if _name_too_long(target):
        raise InputFileError(f"cannot write {target}: the file name is too long for the file system")
    if target.exists() and not force:
        raise OutputExistsError(f"{target} exists already; {FORCE_HINT}")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputFileError(f"cannot write {target}: folder {folder} does not exist")
    try:  # a file made and removed: the one check that also holds for root and read-only mounts
        fd, probe = tempfile.mkstemp(prefix=".microsim-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputFileError(f"cannot write {target}: folder {folder} is not writable ({exc.strerror or exc})") from None
    return target


def check_outputs(
    outputs: Iterable[str | os.PathLike | None],
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
    force: bool = False,
) -> list[Path]:
    """Check every output of one command before it does any work.

    ``None`` and ``"-"`` (stdout) entries are skipped. Paths are compared resolved,
    links followed, so ``a.json`` and ``./x/../a.json`` are one file.

    Raises
    ------
    InputFileError
        An output that is one of ``inputs``, two outputs that are one file, or any
        error of :func:`check_output`.
    OutputExistsError
        An existing output without ``force``.
    """
    sources = {Path(p).resolve(): Path(p) for p in inputs if p not in (None, "-")}
    seen: dict[Path, Path] = {}
    checked = []
    for path in outputs:
        if path in (None, "-", ""):
            continue
        target = Path(path)
        real = target.resolve()
        if real in sources:
            raise InputFileError(f"output {target} is the input {sources[real]}; write it somewhere else")
        if real in seen:
            raise InputFileError(f"two outputs are the same file, {seen[real]} and {target}; give each its own name")
        seen[real] = target
        checked.append(check_output(target, force=force))
    return checked


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; move it onto ``path`` on success.

    The target appears complete or not at all. An existing target is replaced only
    with ``force=True``; otherwise :class:`OutputExistsError` is raised before any work.
    """
    target = check_output(path, force=force)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:100]}.", suffix=".part" + target.suffix[:20], dir=folder)
    except OSError as exc:
        raise InputFileError(f"cannot write {target}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp's 0600 would outlive the rename
        try:
            os.replace(tmp_path, target)
        except OSError as exc:
            raise InputFileError(f"cannot write {target}: {exc.strerror or exc}") from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InputFileError(f"cannot write {target}: no space left on the device") from None
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()

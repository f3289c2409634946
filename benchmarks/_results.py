"""Shared by the benchmark scripts: peak memory of this process, and rewriting one
marked block of RESULTS.md."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def publish(lines: list[str], start: str, end: str, *, write: bool, path: Path = RESULTS) -> None:
    """Print a results block (``lines`` between the two markers) and, with ``write``, put it
    into RESULTS.md in place of the old one."""
    text = "\n".join([start, *lines, "", end])
    print(text)
    if write:
        write_block(text, start, end, path)


def write_block(text: str, start: str, end: str, path: Path = RESULTS) -> None:
    """Replace the block between ``start`` and ``end`` (``text`` includes both), or append it."""
    old = path.read_text() if path.exists() else ""
    if start in old and end in old:
        new = old[:old.index(start)] + text + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new)


def peak_mb() -> float:
    """Resident high-water mark of this process [MB] (VmHWM: starts afresh in a child)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")

"""What the machine can give: the memory still available, and the one refusal of a job
that would not fit, made before anything is allocated."""

from __future__ import annotations

import os

from microsim.errors import ResourceError


def available_memory_bytes() -> int | None:
    """Memory the system can still give us [bytes] (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def require_memory(need: float, what: str, hint: str) -> None:
    """Raise :class:`ResourceError` when ``need`` bytes exceed what is available.

    The message gives the estimate, what is free, and ``hint`` (a way round).
    """
    free = available_memory_bytes()
    if free is not None and need > free:
        raise ResourceError(f"{what} needs about {need / 2**30:.1f} GiB; only {free / 2**30:.1f} GiB are available "
                            f"({hint})")

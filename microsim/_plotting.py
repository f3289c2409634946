"""matplotlib, imported on use, and PNG output that is atomic like every other file."""

from __future__ import annotations

import os
from pathlib import Path

from microsim._files import atomic_output
from microsim.errors import MissingDependencyError


def pyplot(what: str = "plots"):
    """``matplotlib.pyplot`` on the Agg backend, or a MissingDependencyError with the install hint."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError(f"{what} need matplotlib: pip install 'microsim[plot]'") from None
    return plt


def save_png(fig, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Save ``fig`` as PNG atomically (never over an existing file without ``force``) and close it."""
    import matplotlib.pyplot as plt

    try:
        with atomic_output(path, force=force) as tmp:
            fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)

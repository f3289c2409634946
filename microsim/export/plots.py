"""Pictures: matplotlib, imported on use, PNG output that is atomic like every other file,
and the middle-slice snapshot of a volume and its fields."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from microsim.export.files import atomic_output
from microsim.errors import MissingDependencyError
from microsim.microstructure import Microstructure

if TYPE_CHECKING:
    from microsim.transport import TransportResult


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


def write_slice_png(
    path: str | os.PathLike,
    micro: Microstructure,
    results: Sequence["TransportResult"] = (),
    *,
    field: np.ndarray | None = None,
    field_title: str = "",
    force: bool = False,
) -> Path:
    """PNG of the middle slice (axis 0): the phases, and ``field`` (or else the potential
    of the first solved result) when there is one. Needs matplotlib (``pip install
    'microsim[plot]'``)."""
    plt = pyplot("the PNG snapshot")
    mid = micro.shape[0] // 2
    solved = next((r for r in results if r.fields is not None), None)
    if field is None and solved is not None:
        field = np.where(solved.fields.connected, solved.fields.potential, np.nan)
        field_title = f"potential [V], {solved.phase} along axis {solved.axis}"
    panels = 1 + (field is not None)
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4.5), squeeze=False)
    extent = (0, micro.size_m[2] * 1e6, micro.size_m[1] * 1e6, 0)
    image = axes[0, 0].imshow(micro.labels[mid], extent=extent, interpolation="nearest", cmap="viridis")
    axes[0, 0].set_title(f"phases, slice {mid} of axis 0")
    bar = fig.colorbar(image, ax=axes[0, 0], ticks=sorted(micro.phases.values()))
    bar.ax.set_yticklabels([n for n, _ in sorted(micro.phases.items(), key=lambda kv: kv[1])])
    if field is not None:
        image = axes[0, 1].imshow(field[mid], extent=extent, interpolation="nearest", cmap="plasma")
        axes[0, 1].set_title(field_title)
        fig.colorbar(image, ax=axes[0, 1])
    for ax in axes[0]:
        ax.set_xlabel("axis 2 [µm]")
        ax.set_ylabel("axis 1 [µm]")
    return save_png(fig, path, force=force)


def write_impedance_png(
    path: str | os.PathLike,
    frequencies: np.ndarray,
    impedance: np.ndarray,
    *,
    fitted: np.ndarray | None = None,
    title: str = "",
    force: bool = False,
) -> Path:
    """PNG of an impedance spectrum: Nyquist (−Z'' up, equal axes) and Bode (|Z| and phase).

    Parameters
    ----------
    frequencies : (m,) float ndarray [Hz]
    impedance : (m,) complex ndarray [Ω·cm²]
    fitted : (m,) complex ndarray [Ω·cm²], optional
        A fitted circuit at the same frequencies, drawn as a line.
    """
    plt = pyplot("the impedance plot")
    f = np.asarray(frequencies, float)
    z = np.asarray(impedance, complex)
    fig, (nyquist, magnitude) = plt.subplots(1, 2, figsize=(11, 4.5))
    nyquist.plot(z.real, -z.imag, "o", ms=3, label="voxel network")
    if fitted is not None:
        nyquist.plot(fitted.real, -fitted.imag, "-", lw=1, label="circuit fit")
    nyquist.set_aspect("equal", adjustable="datalim")
    nyquist.set_xlabel("Z' [Ω cm²]")
    nyquist.set_ylabel("−Z'' [Ω cm²]")
    nyquist.set_title(f"Nyquist{': ' + title if title else ''}")
    nyquist.legend(loc="best", fontsize="small")
    nyquist.grid(alpha=0.3)
    magnitude.loglog(f, np.abs(z), "o-", ms=3, color="C0")
    magnitude.set_xlabel("frequency [Hz]")
    magnitude.set_ylabel("|Z| [Ω cm²]", color="C0")
    phase = magnitude.twinx()
    phase.semilogx(f, np.degrees(np.angle(z)), "s-", ms=3, color="C1")
    phase.set_ylabel("phase [°]", color="C1")
    magnitude.set_title("Bode")
    magnitude.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return save_png(fig, path, force=force)

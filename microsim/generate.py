"""Virtual composite cathodes: random sphere packings, composition gradients, LLZO grains.

Two packings, both seeded and reproducible:

``overlapping``
    A Boolean model: the spheres of each particle phase are a Poisson sequence; every
    voxel remembers the first sphere that covers it, and the sequence is cut where the
    covered share of the still-free space reaches the target (per slice of axis 0 when
    a gradient is asked for). Phases are placed one after another into the space the
    earlier ones left; the *matrix* phase fills the rest.
``sintered``
    Random sequential addition of spheres of every solid phase, each allowed to
    interpenetrate its neighbours by ``overlap`` × (sum of radii) -- the contact necks
    of a sintered body. Where addition jams short of the target (dense composites:
    at 85 % solid it places about 60 % of the particles), the missing spheres are
    inserted anyway and the packing is relaxed until every pair keeps its distance,
    so the particles keep the radii drawn for them at any density their cores can
    pack to: (1 - overlap)³ × solid fraction below about 0.6 (0.51 for a fully dense
    body at the default overlap 0.2; hard spheres, overlap 0, reach 0.55 solid).
    Beyond that a warning gives the numbers and the particles overlap more than
    asked. The gaps are then filled by growing the particles: the voxels
    farthest from any particle stay pore (as many as the pore target asks), the others
    join the phase whose particle surface is nearest (ranked so every phase hits its
    target). With no pore target the result is a dense sintered composite. Where
    particles overshoot a slice's target (large particles under a steep gradient),
    the rim voxels of the overshooting phase are handed back to the growth step.

Targets refer to the composite region, i.e. without the optional dense separator
slab at the inlet face (``index 0`` of axis 0).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import spatial

from microsim.balls import ball_hits
from microsim.errors import InvalidInputError
from microsim.grains import split_grains
from microsim.microstructure import DEFAULT_PHASES, Microstructure, check_voxel_size
from microsim.resources import require_memory

log = logging.getLogger(__name__)

#: Peak memory of the generator per voxel [bytes]: labels, distance maps and masks;
#: measured 123 B/voxel over the interpreter at 128^3 (sintered, with grains: 329 MB
#: peak against 73 MB for the import), rounded up
BYTES_PER_VOXEL = 150

PACKINGS = ("overlapping", "sintered")
FRACTION_TOLERANCE = 0.005  # largest accepted |achieved - target| volume fraction
_PORE, _ELECTROLYTE = "pore", "LLZO"


@dataclass(frozen=True)
class LogNormal:
    """Log-normal particle diameters.

    Parameters
    ----------
    d50 : float [m]
        Median diameter.
    spread : float
        Standard deviation of ln(d) (0 gives monodisperse spheres). Draws are cut at
        ±3 standard deviations.

    Examples
    --------
    >>> LogNormal(6e-6, 0.3).median_radius
    3e-06
    """

    d50: float
    spread: float

    def __post_init__(self):
        if not (math.isfinite(self.d50) and self.d50 > 0):
            raise InvalidInputError(f"d50 must be a positive length in metres, got {self.d50!r}")
        if not (math.isfinite(self.spread) and 0 <= self.spread <= 2):
            raise InvalidInputError(f"log-normal spread (std of ln d) must be in [0, 2], got {self.spread!r}")

    @classmethod
    def from_mean_std(cls, mean: float, std: float) -> "LogNormal":
        """The log-normal with diameter mean ``mean`` [m] and standard deviation ``std`` [m]."""
        if not (mean > 0 and std >= 0):
            raise InvalidInputError(f"need mean > 0 and std >= 0, got {mean!r}, {std!r}")
        s2 = math.log1p((std / mean) ** 2)
        return cls(mean * math.exp(-s2 / 2), math.sqrt(s2))

    @property
    def median_radius(self) -> float:
        return self.d50 / 2

    @property
    def largest_radius(self) -> float:
        return self.median_radius * math.exp(3 * self.spread)

    def mean_cube(self) -> float:
        """E[r^3] [m^3] (untruncated)."""
        return self.median_radius**3 * math.exp(4.5 * self.spread**2)

    def radii(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` radii [m]."""
        return self.median_radius * np.exp(self.spread * np.clip(rng.standard_normal(n), -3, 3))


@dataclass(frozen=True)
class Gradient:
    """Volume fraction of one phase varying through the thickness (axis 0).

    Parameters
    ----------
    phase : str
        The graded phase, e.g. ``"CAM"``.
    values : sequence of float
        Its volume fraction at equally spaced stations from the inlet face (index 0 of
        axis 0, next to the separator) to the outlet face.
    mode : ``"linear"`` or ``"layers"``
        ``linear``: piecewise linear between stations placed at the inlet face, the
        outlet face and evenly in between; ``layers``: ``len(values)`` slabs of equal
        thickness, each uniform.

    Examples
    --------
    >>> Gradient("CAM", (0.67, 0.33)).profile(4).round(3).tolist()
    [0.628, 0.542, 0.458, 0.372]
    >>> Gradient("CAM", (0.6, 0.4), mode="layers").profile(4).tolist()
    [0.6, 0.6, 0.4, 0.4]
    """

    phase: str
    values: tuple[float, ...]
    mode: str = "linear"

    def __post_init__(self):
        values = tuple(float(v) for v in self.values)
        object.__setattr__(self, "values", values)
        if len(values) < 2 - (self.mode == "layers"):
            raise InvalidInputError(f"a linear gradient needs at least two values, got {values}")
        if any(not 0 <= v <= 1 for v in values):
            raise InvalidInputError(f"gradient fractions must lie in [0, 1], got {values}")
        if self.mode not in ("linear", "layers"):
            raise InvalidInputError(f"gradient mode must be 'linear' or 'layers', got {self.mode!r}")

    def profile(self, n: int) -> np.ndarray:
        """Target fraction in each of ``n`` slices (at the slice centres)."""
        x = (np.arange(n) + 0.5) / n
        v = np.asarray(self.values)
        if self.mode == "layers":
            return v[np.minimum((x * len(v)).astype(int), len(v) - 1)]
        return np.interp(x, np.linspace(0, 1, len(v)), v)


RadiusSpec = float | LogNormal


# -- input checks ----------------------------------------------------------------------
def _check_shape(shape) -> tuple[int, int, int]:
    try:
        dims = tuple(int(n) for n in shape)
        ok = len(dims) == 3 and all(n >= 1 for n in dims) and all(int(n) == n for n in shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InvalidInputError(f"shape must be three positive integers (a 3-D box), got {shape!r}")
    return dims


def _complete_fractions(fractions: Mapping[str, float], table: Mapping[str, int]) -> dict[str, float]:
    """Targets of every phase: the one left unnamed (pore, else LLZO) takes 1 - sum."""
    out = {}
    for name, value in fractions.items():
        if name not in table:
            raise InvalidInputError(f"unknown phase {name!r}; phases are {', '.join(table)}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InvalidInputError(f"volume fraction of {name} must be a number, got {value!r}") from None
        if not 0 <= value <= 1:
            raise InvalidInputError(f"volume fraction of {name} must lie in [0, 1], got {value}")
        out[name] = value
    total = sum(out.values())
    if total > 1 + 1e-9:
        raise InvalidInputError(f"volume fractions must sum to at most 1, got {total:.4g} from {dict(fractions)}")
    rest = next((p for p in (_PORE, _ELECTROLYTE) if p in table and p not in out), None)
    if rest is not None:
        out[rest] = max(0.0, 1.0 - total)
    elif abs(total - 1) > 1e-9:
        raise InvalidInputError(f"volume fractions sum to {total:.4g} and no unnamed phase is left to fill the rest")
    return out


def _radius_specs(radius, phases: Sequence[str], voxel: float, box_vox: Sequence[int]) -> dict[str, RadiusSpec]:
    specs = {}
    for name in phases:
        if isinstance(radius, Mapping):
            if name not in radius:
                raise InvalidInputError(f"no particle radius given for {name}; give one per particle phase")
            spec = radius[name]
        else:
            spec = radius
        if not isinstance(spec, LogNormal):
            try:
                spec = float(spec)
            except (TypeError, ValueError):
                raise InvalidInputError(f"radius of {name} must be a length in metres, got {spec!r}") from None
            if not (math.isfinite(spec) and spec > 0):
                raise InvalidInputError(f"radius of {name} must be positive, got {spec!r} m")
        median = spec.median_radius if isinstance(spec, LogNormal) else spec
        if median / voxel < 0.5:
            raise InvalidInputError(f"radius of {name} is below half a voxel ({median / voxel:.2f} voxels)")
        if 2 * median / voxel > min(box_vox):
            raise InvalidInputError(
                f"particles of {name} (radius {median:.3g} m = {median / voxel:.1f} voxels) are larger than the "
                f"box ({min(box_vox)} voxels across)"
            )
        specs[name] = spec
    return specs


def _draw_radii(spec: RadiusSpec, rng: np.random.Generator, n: int, voxel: float) -> np.ndarray:
    """``n`` radii in voxels."""
    if isinstance(spec, LogNormal):
        return spec.radii(rng, n) / voxel
    return np.full(n, spec / voxel)


def _mean_volume(spec: RadiusSpec, voxel: float) -> float:
    """Mean sphere volume [voxels]."""
    cube = spec.mean_cube() if isinstance(spec, LogNormal) else spec**3
    return 4.0 / 3.0 * math.pi * cube / voxel**3


def _median(spec: RadiusSpec, voxel: float) -> float:
    return (spec.median_radius if isinstance(spec, LogNormal) else spec) / voxel


def _largest(spec: RadiusSpec, voxel: float) -> float:
    return (spec.largest_radius if isinstance(spec, LogNormal) else spec) / voxel


# -- sampling boxes --------------------------------------------------------------------
def _uniform_centres(rng, n: int, shape, wrap, margin: float) -> np.ndarray:
    """Centres uniform in the box, widened by ``margin`` on axes that do not wrap.

    Widening keeps the packing statistically the same up to the box faces (no thinned
    layer where spheres from outside would have reached in).
    """
    lo = np.array([0.0 if w else -margin for w in wrap])
    hi = np.array([float(n_a) if w else n_a + margin for n_a, w in zip(shape, wrap)])
    return lo + rng.random((n, 3)) * (hi - lo)


def _sampling_volume(shape, wrap, margin: float) -> float:
    return float(np.prod([n if w else n + 2 * margin for n, w in zip(shape, wrap)]))


def _cut_closest(keys: np.ndarray, need: int) -> np.ndarray:
    """Mask of the entries with the smallest keys, ``need`` of them as near as ties allow."""
    if need <= 0:
        return np.zeros(keys.shape, dtype=bool)
    if need >= keys.size:
        return np.ones(keys.shape, dtype=bool)
    cut = np.partition(keys.ravel(), need - 1)[need - 1]
    below = np.count_nonzero(keys < cut)
    upto = np.count_nonzero(keys <= cut)
    return keys <= cut if upto - need <= need - below else keys < cut


# -- overlapping (Boolean) packing ------------------------------------------------------
def _first_cover(shape, spec: RadiusSpec, count: int, rng, wrap, voxel: float) -> np.ndarray:
    """Index of the first of ``count`` random spheres covering each voxel (``count`` if none)."""
    radii = _draw_radii(spec, rng, count, voxel)
    centres = _uniform_centres(rng, count, shape, wrap, _largest(spec, voxel))
    order = np.full(int(np.prod(shape)), count, dtype=np.int32 if count < 2**31 - 1 else np.int64)
    for flat, ball, _ in ball_hits(shape, centres, radii, wrap=wrap):
        np.minimum.at(order, flat, ball)
    return order.reshape(shape)


def _place_overlapping(labels, free, name, spec, targets, table, rng, wrap, voxel) -> None:
    """Claim ``targets`` (per slice of axis 0) of the free voxels for Boolean spheres of ``name``."""
    shape = labels.shape
    slice_size = shape[1] * shape[2]
    per_slice = targets.ndim == 1 and np.ptp(targets) > 0
    available = free.reshape(shape[0], -1).sum(axis=1) if per_slice else np.count_nonzero(free)
    need = np.rint(targets * slice_size).astype(np.int64) if per_slice else int(round(targets.mean() * labels.size))
    cover = np.max(np.where(available > 0, need / np.maximum(available, 1), np.where(need > 0, np.inf, 0)))
    if cover >= 0.999:
        raise InvalidInputError(
            f"no room left for {name}: it needs {cover:.1%} of the space the earlier phases left"
        )
    expected = -math.log1p(-cover) * _sampling_volume(shape, wrap, _largest(spec, voxel)) / _mean_volume(spec, voxel)
    count = int(1.2 * expected + 10 * math.sqrt(expected) + 16)
    for _attempt in range(4):
        order = _first_cover(shape, spec, count, rng, wrap, voxel)
        if per_slice:
            claim = np.zeros(shape, dtype=bool)
            for i in range(shape[0]):
                keys = np.where(free[i], order[i], count + 1)
                claim[i] = _cut_closest(keys, int(need[i])) & free[i]
            short = any(np.count_nonzero(order[i][free[i]] < count) < need[i] for i in range(shape[0]))
        else:
            keys = np.where(free, order, count + 1)
            claim = _cut_closest(keys, need) & free
            short = np.count_nonzero(order[free] < count) < need
        if not short:
            break
        count *= 2
    else:
        raise InvalidInputError(f"could not place the {name} spheres: the target fraction is too close to 1")
    labels[claim] = table[name]
    free &= ~claim


# -- sintered (random sequential addition, rearrangement, growth) ------------------------
def _in_box_share(centres: np.ndarray, radii: np.ndarray, shape, wrap) -> np.ndarray:
    """Share of each sphere's volume inside the box ``[0, n_a)`` (1 on wrapped axes).

    Per axis the exact share of a sphere between two planes, ``g(t) = (1 + t)²(2 - t)/4``
    of the volume lying below ``t`` radii from the centre; the product over the axes is
    exact for a sphere cut by one face and close for the few cut at an edge or corner.
    """
    share = np.ones(len(radii))
    g = lambda t: (1 + t) ** 2 * (2 - t) / 4  # noqa: E731
    for a, (n, w) in enumerate(zip(shape, wrap)):
        if w:
            continue
        lo = np.clip((0.0 - centres[:, a]) / radii, -1, 1)
        hi = np.clip((n - centres[:, a]) / radii, -1, 1)
        share *= g(hi) - g(lo)
    return share


def _rsa_margin(specs, voxel: float) -> float:
    """Width [voxels] of the shell packed around the box on axes that do not wrap.

    The largest radius plus one voxel: no sphere reaching into the box is then affected
    by the seam where the padded box wraps onto itself.
    """
    return float(math.ceil(max(_largest(s, voxel) for s in specs.values())) + 1)


def _draw_candidates(rng, batch, lo, span, layer_edges, remaining, names, specs, voxel, queue, copies=1, cap=None):
    """``batch`` spheres uniform over the padded box, each of a phase picked in proportion
    to what its layer still needs: centres, radii [voxels], phase index, layer index and
    the place of each radius in its phase's ``queue``.

    ``queue[k]``: the radii of phase ``k`` drawn and not yet placed, in the order drawn;
    candidates take them from the front, each radius at ``copies`` places (the
    caller keeps at most one of them), and new draws are appended when the queue runs
    short (:func:`_dequeue` removes the placed ones). A radius whose sphere found no
    room is offered again: a large sphere is turned away more often than a small one,
    and drawing afresh would leave the packing with smaller particles than asked.
    ``copies`` about the inverse of the share of candidates that find room, and at
    most ``cap[k]`` radii (the spheres phase ``k`` still needs) offered per batch, keep
    the queue short: a radius is tried until it fits, as in sequential addition
    proper, and the radii drawn and never placed are few (a long queue's leftovers are
    the large radii turned away, and the packing would come out small).
    """
    layers = len(layer_edges) - 1
    cand = lo + rng.random((batch, 3)) * span
    layer = np.clip(np.searchsorted(layer_edges, cand[:, 0], side="right") - 1, 0, layers - 1)
    weights = remaining[:, layer].T  # (batch, phases)
    total = weights.sum(axis=1)
    ok = total > 0
    cand, layer, weights, total = cand[ok], layer[ok], weights[ok], total[ok]
    pick = (rng.random(len(cand))[:, None] * total[:, None] > np.cumsum(weights, axis=1)).sum(axis=1)
    r = np.empty(len(cand))
    slot = np.empty(len(cand), dtype=np.int64)
    for k, name in enumerate(names):
        sel = np.flatnonzero(pick == k)
        distinct = -(-len(sel) // copies)
        if cap is not None:
            distinct = min(distinct, int(cap[k]))
        if len(queue[k]) < distinct:
            queue[k] = np.concatenate([queue[k], _draw_radii(specs[name], rng, distinct - len(queue[k]), voxel)])
        slot[sel] = np.arange(len(sel)) % max(distinct, 1)
        r[sel] = queue[k][slot[sel]]
    return cand, r, pick, layer, slot


def _first_of_each(pick, slot) -> np.ndarray:
    """Mask keeping the first candidate of every (phase, queue place)."""
    key = pick * (int(slot.max()) + 1 if len(slot) else 1) + slot
    _, first = np.unique(key, return_index=True)
    mask = np.zeros(len(key), dtype=bool)
    mask[first] = True
    return mask


def _dequeue(queue, pick, slot) -> None:
    """Remove the radii of the placed spheres (phase ``pick``, place ``slot``) from ``queue``."""
    for k in range(len(queue)):
        queue[k] = np.delete(queue[k], slot[pick == k])


def _accept_by_volume(cand, r, pick, layer, need, shape, wrap, layers) -> tuple[np.ndarray, np.ndarray]:
    """Indices (in order) of the candidates that bring their phase's layer nearer its
    in-box target, and their in-box volumes [voxels]; the last one of a layer may
    overshoot by at most half its volume. Candidates outside the box (no in-box volume)
    are kept while their layer is open, so the shell fills as densely as the box."""
    volume = 4.0 / 3.0 * math.pi * r**3 * _in_box_share(cand, r, shape, wrap)
    group = pick * layers + layer
    order = np.argsort(group, kind="stable")
    cum = np.cumsum(volume[order])
    first = np.searchsorted(group[order], group[order], side="left")
    before = cum - volume[order] - np.where(first > 0, cum[first - 1], 0)
    fits = before + 0.5 * volume[order] < np.clip(need.ravel()[group[order]], 0, None)
    accepted = np.sort(order[fits])
    return accepted, volume[accepted]


def _in_box_volumes(centres, radii, kinds, shape, wrap, layer_edges, n_kinds) -> np.ndarray:
    """Sphere volume [voxels] inside the box per phase and layer of axis 0, (phases, layers)."""
    layers = len(layer_edges) - 1
    layer = np.clip(np.searchsorted(layer_edges, centres[:, 0], side="right") - 1, 0, layers - 1)
    out = np.zeros((n_kinds, layers))
    np.add.at(out, (kinds, layer), 4.0 / 3.0 * math.pi * radii**3 * _in_box_share(centres, radii, shape, wrap))
    return out


def _pairs_within(x, radii, lo, span, shrink, skin) -> np.ndarray:
    """Pairs (P, 2), i < j, of spheres nearer than ``shrink`` × (sum of radii) + ``skin``
    in the periodic padded box.

    The spheres are searched in classes of radius (each class up to twice its
    smallest), each pair of classes to the reach of its largest spheres: a few large
    spheres among many small ones do not widen the search of every small one.
    """
    w = (x - lo) % span
    cls = np.floor(np.log2(radii / radii.min())).astype(np.int64)
    groups = [np.flatnonzero(cls == c) for c in np.unique(cls)]
    trees = [spatial.cKDTree(w[g], boxsize=span) for g in groups]
    top = [radii[g].max() for g in groups]
    found = []
    for a in range(len(groups)):
        for b in range(a, len(groups)):
            near = trees[a].sparse_distance_matrix(trees[b], shrink * (top[a] + top[b]) + skin, output_type="ndarray")
            i, j = groups[a][near["i"]], groups[b][near["j"]]
            keep = i < j if a == b else np.ones(len(i), dtype=bool)
            found.append(np.column_stack([np.minimum(i, j)[keep], np.maximum(i, j)[keep]]))
    return np.concatenate(found)


def _too_close(x, radii, shrink, span, pairs):
    """Of ``pairs``, those closer than ``shrink`` × (sum of radii): i, j, their separation
    vectors (nearest image), distances and the distances they should keep."""
    i, j = pairs[:, 0], pairs[:, 1]
    delta = x[i] - x[j]
    delta -= np.round(delta / span) * span
    d = np.sqrt(np.einsum("ij,ij->i", delta, delta))
    contact = shrink * (radii[i] + radii[j])
    bad = d < contact
    return i[bad], j[bad], delta[bad], d[bad], contact[bad]


def _relax(centres, radii, shrink, lo, span, *, iterations=1000, patience=100) -> tuple[np.ndarray, np.ndarray]:
    """Push apart every pair of spheres closer than ``shrink`` × (sum of radii).

    Collective rearrangement: each such pair is moved apart along the line of its
    centres by 1.6 times its overlap (over-relaxed: at 85 % solid this needs tens of
    sweeps, against hundreds for 1.1 times), the smaller sphere taking the larger
    share (in proportion to the other's volume), all pairs at once, until no pair is
    too close. The padded box is periodic. The candidate pairs are those within the
    contact distance plus a skin, found again when a sphere has moved by half the
    skin. Where the spheres' cores cannot pack (the sum of the overlaps has not fallen
    by 1 % below its least for ``patience`` sweeps), the pushes drop to the overlap
    itself to settle, and it stops when that stalls too (or ``iterations`` pass).
    Returns the centres and, for every pair still too close, its overlap as a share
    of the sum of its radii (empty when the request fits).
    """
    x = centres.copy()
    if len(radii) < 2:
        return x, np.empty(0)
    r3 = radii**3
    skin = 0.25 * shrink * radii.min()
    best, since, factor = np.inf, 0, 1.6
    pairs, anchor = None, None
    for _sweep in range(iterations):
        if pairs is None or np.max(np.abs(x - anchor)) > 0.5 * skin:
            pairs, anchor = _pairs_within(x, radii, lo, span, shrink, skin), x.copy()
        i, j, delta, d, contact = _too_close(x, radii, shrink, span, pairs)
        if not len(i):
            # the list was exact within half a skin of every centre; check afresh
            pairs, anchor = _pairs_within(x, radii, lo, span, shrink, skin), x.copy()
            i, j, delta, d, contact = _too_close(x, radii, shrink, span, pairs)
            if not len(i):
                return x, np.empty(0)
        total = float(np.sum(contact - d))
        if total < 0.99 * best:
            best, since = total, 0
        else:
            since += 1
            if since >= patience and factor == 1.0:
                break
            if since >= patience:  # jammed: settle without over-relaxing
                best, since, factor = np.inf, 0, 1.0
        unit = delta / np.maximum(d, 1e-12)[:, None]
        unit[d < 1e-12] = [1.0, 0.0, 0.0]
        push = ((contact - d) * factor + 1e-3)[:, None] * unit
        share_i = (r3[j] / (r3[i] + r3[j]))[:, None]
        move = np.zeros_like(x)
        np.add.at(move, i, push * share_i)
        np.add.at(move, j, -push * (1 - share_i))
        x += move
    i, j, _delta, d, _contact = _too_close(x, radii, shrink, span, _pairs_within(x, radii, lo, span, shrink, 0.0))
    return x, 1 - d / (radii[i] + radii[j])


#: Share of the box the spheres' cores ((1 - overlap) × radius) can fill in a random
#: packing: random close packing of equal spheres is 0.64; the rearrangement here
#: resolved 0.55 and stalled at 0.62 (monodisperse, 48^3), so about 0.6
CORE_PACKING_LIMIT = 0.6


def _rsa(shape, specs, targets_vox, overlap, rng, wrap, voxel, layers):
    """Random sequential addition of spheres of several phases, topped up by rearrangement.

    ``targets_vox[k, l]``: sphere volume [voxels] phase ``k`` should reach inside the
    box in layer ``l`` of axis 0. Returns centres (M, 3), radii (M,), phase index (M,).

    On an axis that does not wrap, the box is padded by :func:`_rsa_margin` on both
    sides and the padded box is packed *periodically*: it has no walls, so the packing
    is statistically the same at the box faces as inside (a wall would layer the
    spheres against it). Only the part of each sphere inside the box counts against the
    target (:func:`_in_box_share`); candidates are drawn uniformly over the padded box,
    so the shell is packed as densely as the box and stops when the box is full. A
    sphere is kept when it brings the in-box volume nearer its target (the last one
    may overshoot by at most half its volume).

    RSA jams: its acceptance falls off as a power law near a sum of sphere volumes of
    about 0.38/(1 - overlap)³ of the box, and in practice stops well below (at 85 %
    solid and overlap 0.2 it placed 60 % of the particles). The spheres still missing
    are then inserted where they fall, overlaps ignored, and the whole packing is
    relaxed (:func:`_relax`) until every pair keeps ``(1 - overlap)`` × (sum of
    radii); the in-box volume is counted again and the insertion repeated until each
    phase is within half a particle of its target (layers short by what others hold
    over are left to the growth step). Every sphere keeps the radius drawn for it
    (see :func:`_draw_candidates`), so the particles' sizes are as asked at any density
    the cores can pack to: sum of volumes × (1 - overlap)³ below about
    :data:`CORE_PACKING_LIMIT`. Above that the relaxation stalls; the spheres keep
    their radii and positions, and a warning states how much more than ``overlap``
    the pairs still too close interpenetrate and which overlap would do.
    """
    names = list(specs)
    margin = _rsa_margin(specs, voxel)
    lo = np.array([0.0 if w else -margin for w in wrap])
    span = np.array([float(n) if w else n + 2 * margin for n, w in zip(shape, wrap)])
    boxsize = span  # periodic on every axis of the padded box
    layer_edges = np.linspace(0, shape[0], layers + 1)
    targets = np.array(targets_vox, dtype=float)
    need = targets.copy()
    centres = np.empty((0, 3))
    radii = np.empty(0)
    kinds = np.empty(0, dtype=np.int64)
    shrink = 1.0 - overlap
    mean_volume = np.array([_mean_volume(specs[n], voxel) for n in names])
    padding = float(np.prod(span) / np.prod(shape))  # candidates per in-box candidate
    stalled = 0
    wrapped = lambda x: (x - lo) % boxsize  # noqa: E731 - coordinates the trees expect
    queue = [np.empty(0) for _ in names]  # radii drawn, not yet placed (see _draw_candidates)
    copies = 1

    def still_needed(remaining):
        # spheres each phase still needs in the padded box (a few more: the last may not fit)
        return np.ceil(padding * remaining.sum(axis=1) / mean_volume * 1.1) + 2

    def close(need):
        # a phase's layer within half a particle of its target is closed: no more
        # spheres there, in the box or in the shell around it
        shut = need < 0.5 * mean_volume[:, None]
        need[shut] = np.minimum(need[shut], 0.0)

    for _batch in range(400):
        remaining = np.clip(need, 0, None)
        if remaining.sum() < 0.5 * mean_volume.min():
            break
        batch = int(np.clip(2 * padding * (remaining.sum(axis=1) / mean_volume).sum(), 256, 200_000))
        cand, r, pick, layer, slot = _draw_candidates(rng, batch, lo, span, layer_edges, remaining, names, specs,
                                                      voxel, queue, copies, still_needed(remaining))
        keep = np.ones(len(cand), dtype=bool)
        if len(centres):
            tree = spatial.cKDTree(wrapped(centres), boxsize=boxsize)
            k = min(32, len(centres))
            dist, idx = tree.query(wrapped(cand), k=k, distance_upper_bound=shrink * (r.max() + radii.max()))
            dist, idx = dist.reshape(len(cand), k), idx.reshape(len(cand), k)
            r_nb = np.append(radii, 0.0)[idx]
            keep &= ~np.any(dist < shrink * (r[:, None] + r_nb), axis=1)
            if k == 32:  # a crowd beyond the 32 nearest is not checked: such a spot is taken anyway
                keep &= ~np.isfinite(dist[:, -1])
        cand, r, pick, layer, slot = cand[keep], r[keep], pick[keep], layer[keep], slot[keep]
        if len(cand) > 1:  # conflicts inside the batch: the later sphere yields
            pairs = spatial.cKDTree(wrapped(cand), boxsize=boxsize).query_pairs(
                shrink * 2 * r.max(), output_type="ndarray"
            )
            if len(pairs):
                i, j = pairs.min(axis=1), pairs.max(axis=1)
                delta = wrapped(cand[i]) - wrapped(cand[j])
                delta -= np.round(delta / boxsize) * boxsize
                clash = np.linalg.norm(delta, axis=1) < shrink * (r[i] + r[j])
                drop = np.zeros(len(cand), dtype=bool)
                drop[j[clash]] = True
                cand, r, pick, layer, slot = cand[~drop], r[~drop], pick[~drop], layer[~drop], slot[~drop]
        # the share that found room sets how often each radius is offered next time
        copies = int(np.clip(round(batch / max(len(cand), 1)), 1, 64))
        first = _first_of_each(pick, slot)
        cand, r, pick, layer, slot = cand[first], r[first], pick[first], layer[first], slot[first]
        accepted, volume = _accept_by_volume(cand, r, pick, layer, need, shape, wrap, layers)
        np.add.at(need, (pick[accepted], layer[accepted]), -volume)
        _dequeue(queue, pick[accepted], slot[accepted])
        centres = np.concatenate([centres, cand[accepted]])
        radii = np.concatenate([radii, r[accepted]])
        kinds = np.concatenate([kinds, pick[accepted]])
        close(need)
        # near jamming RSA creeps on for ever (the acceptance falls off as a power
        # law); stop at 2 % and top the packing up by rearrangement
        stalled = stalled + 1 if len(accepted) < 0.02 * batch else 0
        if stalled >= 2:
            break
    placed_by_rsa = len(radii)
    excess = np.empty(0)
    for _round in range(8):
        remaining = np.clip(need, 0, None)
        if remaining.sum() < 0.5 * mean_volume.min() or len(excess):
            break
        # insert what is missing where it falls (several batches: a batch's spheres are
        # accepted against the need it started with)
        for _insert in range(50):
            remaining = np.clip(need, 0, None)
            if remaining.sum() < 0.5 * mean_volume.min():
                break
            batch = int(np.clip(2 * padding * (remaining.sum(axis=1) / mean_volume).sum(), 64, 200_000))
            cand, r, pick, layer, slot = _draw_candidates(rng, batch, lo, span, layer_edges, remaining, names, specs,
                                                          voxel, queue, 1, still_needed(remaining))
            accepted, volume = _accept_by_volume(cand, r, pick, layer, need, shape, wrap, layers)
            np.add.at(need, (pick[accepted], layer[accepted]), -volume)
            _dequeue(queue, pick[accepted], slot[accepted])
            centres = np.concatenate([centres, cand[accepted]])
            radii = np.concatenate([radii, r[accepted]])
            kinds = np.concatenate([kinds, pick[accepted]])
            close(need)
        centres, excess = _relax(centres, radii, shrink, lo, span)
        # relaxing moved spheres across the box faces and layers: count again. A
        # phase short in some layers and over in others is short by the balance only
        # (the growth step evens out the layers); more spheres would overfill the box
        need = targets - _in_box_volumes(centres, radii, kinds, shape, wrap, layer_edges, len(names))
        balance = need.sum(axis=1)
        short = np.clip(need, 0, None)
        need = np.where(need > 0, short * (np.clip(balance, 0, None) / np.maximum(short.sum(axis=1), 1e-300))[:, None],
                        need)
        close(need)
    if len(radii) > placed_by_rsa:
        log.info("sintered packing: %d spheres by random sequential addition, %d in all after rearrangement",
                 placed_by_rsa, len(radii))
    if len(excess):
        solid = targets.sum() / float(np.prod(shape))
        suggest = 1 - (0.9 * CORE_PACKING_LIMIT / solid) ** (1 / 3)
        log.warning(
            "sintered packing: %.2f solid does not fit with overlap %g: the particles' cores ((1 - overlap)^3 x solid "
            "= %.2f of the box) pack to about %g at most. The particles keep the radii asked, and %d pairs overlap "
            "by more than the %g allowed (up to %.2f of the sum of their radii, %.2f on average); allow an overlap of "
            "about %.2f, or ask for less solid or a wider size spread",
            solid, overlap, solid * shrink**3, CORE_PACKING_LIMIT, len(excess), overlap, excess.max(), excess.mean(),
            suggest,
        )
    return centres, radii, kinds


def _fill_by_growth(labels, free, gaps, names, targets, table, rng) -> None:
    """Give each free voxel to pore or to a phase, nearest particle surface first.

    ``gaps[k]``: distance [voxels] from each voxel to the nearest particle of phase
    ``names[k]``; ``targets``: phase -> target fraction per slice (n0,) or scalar.
    """
    shape = labels.shape
    zones = [slice(i, i + 1) for i in range(shape[0])] if any(np.ptp(t) > 0 for t in targets.values()) else [slice(None)]
    for zone in zones:
        f = free[zone]
        size = f.size
        lab = labels[zone]
        for k, name in enumerate(names):  # particles spilling over a slice's target: trim their rims
            target = targets[name][zone].mean() if np.ndim(targets[name]) else targets[name]
            mine = (lab == table[name]) & ~f
            excess = int(np.count_nonzero(mine)) - int(round(target * size))
            if excess > 0:
                rim = _cut_closest(-gaps[k][zone][mine], excess)  # the voxels nearest the surface
                trimmed = np.flatnonzero(mine.ravel())[rim]
                f.ravel()[trimmed] = True
        if not f.any():
            continue
        # independent jitter per phase: the keys below are gap differences, and voxels
        # beyond the reach of every particle all have the same gaps
        g = np.stack([gap[zone][f] for gap in gaps])
        g += rng.random(g.shape).astype(np.float32) * 1e-3
        take = {}
        for k, name in enumerate(names):
            target = targets[name][zone].mean() if np.ndim(targets[name]) else targets[name]
            take[name] = max(0, int(round(target * size)) - np.count_nonzero(lab[~f] == table[name]))
        open_ = np.ones(g.shape[1], dtype=bool)
        result = np.full(g.shape[1], table.get(_PORE, table[names[-1]]), dtype=labels.dtype)
        n_pore = g.shape[1] - sum(take.values())
        if n_pore > 0:  # the pore keeps the voxels farthest from every particle
            pore = _cut_closest(-g.min(axis=0), n_pore)
            open_ &= ~pore
        for k, name in enumerate(names):
            idx = np.flatnonzero(open_)
            if k == len(names) - 1:
                chosen = idx
            else:
                rest = np.delete(g, k, axis=0)[:, idx].min(axis=0) if len(names) > 1 else 0
                chosen = idx[_cut_closest(g[k, idx] - rest, take[name])]
            result[chosen] = table[name]
            open_[chosen] = False
        lab[f] = result
        labels[zone] = lab


def _place_sintered(labels, free, specs, targets, overlap, table, rng, wrap, voxel) -> None:
    shape = labels.shape
    names = list(specs)
    layers = min(shape[0], 16) if any(np.ptp(targets[n]) > 0 for n in names) else 1
    slices = np.array_split(np.arange(shape[0]), layers)
    slab = shape[1] * shape[2]
    targets_vox = np.array([[targets[n][s].sum() * slab for s in slices] for n in names])
    centres, radii, kinds = _rsa(shape, specs, targets_vox, overlap, rng, wrap, voxel, layers)
    log.info("sintered packing: %d particles placed", len(radii))
    # the gaps of a random packing are about a particle radius wide: look that far
    reach_extra = max(2.0, 0.5 * max(_median(s, voxel) for s in specs.values()))
    gaps = []
    for k in range(len(names)):
        gap = np.full(labels.size, reach_extra, dtype=np.float32)
        sel = kinds == k
        for flat, ball, dist in ball_hits(shape, centres[sel], radii[sel] + reach_extra, wrap=wrap):
            np.minimum.at(gap, flat, dist - radii[sel][ball].astype(np.float32))
        gaps.append(gap.reshape(shape))
    nearest = gaps[0].copy()
    for k, gap in enumerate(gaps):  # a voxel inside particles of two phases goes to the deeper one
        if k:
            np.minimum(nearest, gap, out=nearest)
        labels[(gap <= 0) & (gap == nearest)] = table[names[k]]
    free &= nearest > 0
    unreached = np.count_nonzero(free & (nearest >= reach_extra))
    log.info("sintered packing: %.1f%% of the volume filled by growth, %.2f%% beyond %.1f voxels of any particle",
             100 * np.count_nonzero(free) / free.size, 100 * unreached / free.size, reach_extra)
    _fill_by_growth(labels, free, gaps, names, targets, table, rng)
    free[:] = False
    return centres, radii, kinds


# -- grains ------------------------------------------------------------------------------
def _nearest_seed(where: np.ndarray, shape, seeds: np.ndarray, periodic: bool) -> np.ndarray:
    """Grain id (1-based index of the nearest seed) of each voxel in ``where`` (flat indices)."""
    boxsize = np.asarray(shape, dtype=float) if periodic else None
    tree = spatial.cKDTree(seeds, boxsize=boxsize)
    ids = np.empty(where.size, dtype=np.int32)
    for start in range(0, where.size, 1 << 22):
        chunk = where[start:start + (1 << 22)]
        points = np.column_stack(np.unravel_index(chunk, shape)) + 0.5
        _, nearest = tree.query(points, workers=-1)
        ids[start:start + chunk.size] = nearest + 1
    return ids


def voronoi_grains(
    labels: np.ndarray,
    grain_size: float,
    *,
    spacing: float = 1.0,
    phase_label: int,
    periodic: bool = False,
    seed: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Split the voxels of one phase into Voronoi grains, each a connected piece.

    Seeds are drawn uniformly among the phase's voxels and every voxel of the phase
    joins its nearest seed; the Voronoi cells are then cut where the phase cuts them
    (:func:`split_grains`): every face-connected piece is a grain. The number of
    seeds is adjusted (secant steps on a nested set of seeds) until the number of
    pieces is the phase volume over ``π/6·d³``: the mean grain volume is then that of a
    sphere of diameter ``d`` = ``grain_size`` (to 2 % in count, under 1 % in diameter).
    Where the phase alone falls into more disconnected pieces than that, each piece is
    one grain, the grains come out smaller and a warning is logged.

    Parameters
    ----------
    labels : (n0, n1, n2) integer ndarray
        Phase map.
    grain_size : float
        Mean grain diameter (equivalent sphere of the mean grain volume), in the units
        of ``spacing``.
    spacing : float
        Voxel edge length (isotropic).
    phase_label : int
        Label of the phase to split.
    periodic : bool
        Distances and pieces wrap around the box.
    seed : int, Generator or None

    Returns
    -------
    (n0, n1, n2) int32 ndarray
        Grain id per voxel, ``1..N`` on the phase, 0 elsewhere.
    """
    if not (math.isfinite(grain_size) and grain_size > 0):
        raise InvalidInputError(f"grain size must be positive, got {grain_size!r}")
    rng = np.random.default_rng(seed)
    where = np.flatnonzero(labels.ravel() == phase_label)
    grains = np.zeros(labels.shape, dtype=np.int32)
    if where.size == 0:
        return grains
    d = grain_size / spacing
    wanted = where.size / (math.pi / 6 * d**3)
    n_max = max(1, int(round(wanted)))
    if n_max > where.size:
        raise InvalidInputError(f"grain size {grain_size:.3g} is below one voxel ({spacing:.3g})")
    picks = rng.choice(where, size=n_max, replace=False)
    pool = np.column_stack(np.unravel_index(picks, labels.shape)) + rng.random((n_max, 3))
    flat = grains.ravel()

    def pieces_of(n: int) -> tuple[np.ndarray, int]:
        flat[where] = _nearest_seed(where, labels.shape, pool[:n], periodic)
        split = split_grains(grains, periodic=periodic)
        return split, int(split.max())

    # each seed's cell holds at least one piece, so the count is >= the seeds: n <= n_max
    tried: dict[int, tuple[np.ndarray, int]] = {}
    n = n_max
    for _step in range(10):
        tried[n] = pieces_of(n)
        count = tried[n][1]
        if abs(count - wanted) <= max(1.0, 0.02 * wanted):
            break
        known = sorted(tried)
        below = [m for m in known if tried[m][1] < wanted]
        above = [m for m in known if tried[m][1] > wanted]
        if above and min(above) == 1:
            break  # the phase's own pieces outnumber the grains asked for
        hi = min(above) if above else None
        lo = max(below) if below else None
        if hi is not None and lo is not None:  # secant inside the bracket
            c_lo, c_hi = tried[lo][1], tried[hi][1]
            guess = lo + (wanted - c_lo) * (hi - lo) / max(c_hi - c_lo, 1)
            guess = int(round(min(max(guess, lo + 1), hi - 1))) if hi - lo > 1 else None
        else:  # pieces per seed as measured, scaled
            guess = int(round(n * wanted / count))
            guess = min(max(guess, 1), n_max)
        if guess is None or guess in tried:
            break
        n = guess
    best = min(tried, key=lambda m: abs(tried[m][1] - wanted))
    grains, count = tried[best]
    if count > 1.05 * wanted:
        log.warning("the phase falls into %d pieces where %d grains of %.3g were asked: each piece is a grain, the "
                    "mean grain diameter is %.3g", count, round(wanted), grain_size,
                    grain_size * (wanted / count) ** (1 / 3))
    log.info("grains: %d seeds cut into %d connected grains", best, count)
    return grains


# -- the generator -----------------------------------------------------------------------
def generate(
    shape: Sequence[int],
    fractions: Mapping[str, float],
    radius: Mapping[str, RadiusSpec] | RadiusSpec,
    *,
    voxel_size: float = 1e-6,
    packing: str = "overlapping",
    overlap: float = 0.2,
    matrix: str | None = None,
    gradient: Gradient | None = None,
    separator: float = 0.0,
    grain_size: float | None = None,
    grain_phase: str = _ELECTROLYTE,
    periodic: bool = False,
    phases: Mapping[str, int] | None = None,
    seed: int | np.random.Generator | None = None,
) -> Microstructure:
    """A random composite-cathode microstructure with the requested volume fractions.

    Parameters
    ----------
    shape : 3 ints
        Voxels along axes 0 (thickness), 1, 2.
    fractions : mapping phase -> volume fraction
        Targets in the composite region. A phase left out fills the rest: ``pore``
        when it is not named, else ``LLZO``.
    radius : float [m], LogNormal, or mapping phase -> either
        Particle radius per particle phase; a :class:`LogNormal` gives a size
        distribution (d50 and spread).
    voxel_size : float [m]
        Isotropic voxel edge.
    packing : ``"overlapping"`` or ``"sintered"``
        See the module notes.
    overlap : float
        Sintered packing: allowed interpenetration of two particles as a share of the
        sum of their radii (0 = hard spheres; 0.2 gives contact necks). The cores
        (radius × (1 - overlap)) must pack: (1 - overlap)³ × solid fraction below
        about 0.6, else a warning states how much more the particles overlap.
    matrix : str, optional
        Overlapping packing: the phase that fills the space the spheres leave. Default:
        pore when it has a positive target, else LLZO (else the last phase named).
    gradient : Gradient, optional
        Fraction of one solid phase through the thickness; the other solid phases share
        what is left in their given proportions, the pore fraction stays uniform. It
        replaces that phase's entry in ``fractions``.
    separator : float [m]
        Thickness of a dense LLZO slab at the inlet face (index 0 of axis 0).
    grain_size : float [m], optional
        Split ``grain_phase`` into Voronoi grains of this mean diameter, every grain a
        connected piece (see :func:`voronoi_grains`).
    periodic : bool
        Particles wrap around the box faces. Axis 0 wraps only when there is neither a
        gradient nor a separator; with either, a warning says that only axes 1 and 2
        are periodic.
    phases : mapping name -> label, optional
        Phase table (default pore 0, CAM 1, LLZO 2).
    seed : int, Generator or None
        The same seed gives the same volume.

    Returns
    -------
    Microstructure

    Raises
    ------
    InvalidInputError
        Fractions outside [0, 1] or summing above 1, unknown phases, radii that are
        not positive, below half a voxel or larger than the box, a non-3-D shape, and
        targets the packing cannot reach within ``FRACTION_TOLERANCE``.

    Examples
    --------
    >>> m = generate((32, 32, 32), {"CAM": 0.5}, 3e-6, voxel_size=1e-6, seed=1)
    >>> round(m.volume_fraction("CAM"), 2), round(m.volume_fraction("pore"), 2)
    (0.5, 0.5)
    """
    table = dict(DEFAULT_PHASES if phases is None else phases)
    dims = _check_shape(shape)
    voxels = int(np.prod(dims))
    require_memory(voxels * BYTES_PER_VOXEL, f"generating {'x'.join(map(str, dims))} voxels",
                   "generate a smaller box, or a representative element and study it at that size")
    size = check_voxel_size(voxel_size)
    if len(set(size)) != 1:
        raise InvalidInputError(f"the sphere generator needs isotropic voxels, got {size}")
    voxel = size[0]
    if packing not in PACKINGS:
        raise InvalidInputError(f"packing must be one of {', '.join(PACKINGS)}, got {packing!r}")
    if not 0 <= overlap < 1:
        raise InvalidInputError(f"overlap must lie in [0, 1), got {overlap!r}")
    targets = _complete_fractions(fractions, table)
    n_sep = int(round(float(separator) / voxel))
    if separator < 0 or n_sep >= dims[0]:
        raise InvalidInputError(
            f"separator thickness must lie in [0, box thickness {dims[0] * voxel:.3g} m), got {separator!r} m"
        )
    if n_sep and _ELECTROLYTE not in table:
        raise InvalidInputError(f"a separator slab needs an {_ELECTROLYTE} phase; phases are {', '.join(table)}")
    region = (dims[0] - n_sep, dims[1], dims[2])
    wrap = (bool(periodic) and gradient is None and n_sep == 0, bool(periodic), bool(periodic))
    if periodic and not wrap[0]:
        log.warning("periodic: axis 0 does not wrap (a %s runs along it); only axes 1 and 2 are periodic",
                    " and a ".join(w for w, on in (("gradient", gradient is not None), ("separator", n_sep > 0)) if on))

    pore_target = targets.get(_PORE, 0.0)
    if gradient is not None and gradient.phase in table and gradient.phase not in targets:
        targets[gradient.phase] = 0.0
    profiles = {name: np.full(region[0], value) for name, value in targets.items()}
    if gradient is not None:
        _apply_gradient(profiles, gradient, pore_target, fractions)

    if packing == "overlapping":
        if matrix is None:
            positive = [n for n in targets if profiles[n].max() > 0]
            matrix = _PORE if pore_target > 0 else (_ELECTROLYTE if _ELECTROLYTE in positive else positive[-1])
        if matrix not in table:
            raise InvalidInputError(f"unknown matrix phase {matrix!r}; phases are {', '.join(table)}")
        particles = [n for n in targets if n != matrix and profiles[n].max() > 0]
    else:
        if matrix is not None:
            raise InvalidInputError("a sintered packing has no matrix phase: every solid phase is particles")
        particles = [n for n in targets if n != _PORE and profiles[n].max() > 0]
    specs = _radius_specs(radius, particles, voxel, region)

    rng = np.random.default_rng(seed)
    fill = matrix if packing == "overlapping" else (_PORE if _PORE in table else particles[-1])
    labels = np.full(region, table[fill], dtype=np.uint8)
    free = np.ones(region, dtype=bool)
    log.info("%s packing of %s in %s voxels", packing, ", ".join(particles) or "nothing", "x".join(map(str, region)))
    if packing == "overlapping":
        for name in particles:
            _place_overlapping(labels, free, name, specs[name], profiles[name], table, rng, wrap, voxel)
    elif particles:
        _place_sintered(labels, free, specs, {n: profiles[n] for n in particles}, overlap, table, rng, wrap, voxel)
    _check_achieved(labels, targets, profiles, table)

    if n_sep:
        labels = np.concatenate([np.full((n_sep,) + region[1:], table[_ELECTROLYTE], np.uint8), labels])
    grains = None
    if grain_size is not None:
        if grain_phase not in table:
            raise InvalidInputError(f"unknown grain phase {grain_phase!r}; phases are {', '.join(table)}")
        grains = voronoi_grains(labels, grain_size, spacing=voxel, phase_label=table[grain_phase],
                                periodic=all(wrap), seed=rng)
        count = int(grains.max())
        mean_d = (6 / math.pi * np.count_nonzero(grains) / max(count, 1)) ** (1 / 3) * voxel
        log.info("%d %s grains (connected pieces) of mean diameter %.3g m, %.3g m asked", count, grain_phase,
                 mean_d, grain_size)
    return Microstructure(labels, size, table, grains)


def _apply_gradient(profiles, gradient: Gradient, pore_target: float, fractions) -> None:
    """Per-slice targets for a graded phase; the other solids share the rest."""
    name = gradient.phase
    if name not in profiles or name == _PORE:
        raise InvalidInputError(f"the graded phase must be a named solid phase, got {name!r}")
    graded = gradient.profile(len(profiles[name]))
    solid = 1.0 - pore_target
    if graded.max() > solid + 1e-9:
        raise InvalidInputError(
            f"the gradient asks for {graded.max():.3f} of {name} but the solid phases only fill {solid:.3f}"
        )
    if name in fractions and abs(float(fractions[name]) - graded.mean()) > FRACTION_TOLERANCE:
        log.warning("the gradient sets %s (mean %.3f); its fraction %.3f is replaced", name, graded.mean(),
                    float(fractions[name]))
    others = [n for n in profiles if n not in (name, _PORE)]
    share = sum(profiles[n][0] for n in others)
    if not others and np.any(graded < solid - 1e-9):
        raise InvalidInputError(f"a gradient of {name} needs another solid phase to take up the rest")
    for n in others:
        weight = profiles[n][0] / share if share > 0 else 1.0 / len(others)
        profiles[n] = (solid - graded) * weight
    profiles[name] = graded


def _check_achieved(labels, targets, profiles, table) -> None:
    for name in targets:
        achieved = np.count_nonzero(labels == table[name]) / labels.size
        wanted = profiles[name].mean()
        if abs(achieved - wanted) > FRACTION_TOLERANCE:
            raise InvalidInputError(
                f"could not reach {wanted:.3f} of {name} (got {achieved:.3f}): the particles are too large for the "
                "box or the targets too close to a dense packing; use a larger box, smaller particles or another "
                "packing"
            )

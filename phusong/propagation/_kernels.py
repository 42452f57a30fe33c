"""Numba kernels: a radial sweep computing delta-Bullington loss for every cell of a raster.

Private module. Public entry points are in :mod:`phusong.propagation.footprint`;
the plain NumPy reference is :mod:`phusong.propagation.reference`.

Every cell belongs to its nearest ray (rays at most one cell apart at the radius).
Each ray is walked outward, one sample per cell size, keeping the state the model
needs about the profile so far:

* the transmitter-side horizon: a running maximum of slopes (O(1));
* the receiver-side horizon, the dominant obstacle and P.452's obstacle
  correction: tangent and support queries on two upper convex hulls of the
  profile so far (earth-curvature-corrected and plain), by binary search (O(log n));
* the least-squares smooth-earth line: two running sums (O(1)).

A cell is evaluated when the walk is ``tail`` samples short of it: its profile is
the ray's state so far plus the last ``tail`` samples taken on the cell's own
straight line, and the receiver is the cell centre itself. Every query above is a
maximum (or a sum) over profile points, so the tail just joins it directly. The
samples next to the receiver, which decide the loss on rough ground, are thus the
reference's own; only the far part comes from a ray up to half a ray spacing away.
A cell costs O(log n + tail) instead of the O(n) of re-walking its profile.
Distances are km and heights m inside the model code, as in P.526.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from llvmlite import ir
from numba import njit
from numba import types as numba_types
from numba.extending import intrinsic, register_jitable

from .._jit import forget_stale_compilations
from .._threads import over_chunks
from . import p1812 as _p1812

# P.1812's scalar equations: the reference's own functions, compiled where the kernel calls them
# (register_jitable leaves them plain Python for everyone else, and keeps Numba out of `import phusong`).
for _name in _p1812.JITABLE:
    register_jitable(getattr(_p1812, _name))

# Numba's on-disk cache checks only this file's timestamp, not p1812.py's, whose functions are compiled in.
forget_stale_compilations(__file__, [_p1812.__file__])

P1812 = 3         # mode: the full ITU-R P.1812-6 method (clutter heights on the profile)
P1812_AB_KM = 3.0 * _p1812.EARTH_RADIUS_KM   # eq. (7b): the effective radius exceeded for β0 % of time

C_M_S = 299_792_458.0
FSPL_CONST_DB = 20.0 * math.log10(4.0 * math.pi * 1e3 * 1e6 / C_M_S)
LAND_EPS = 22.0
LAND_SIGMA = 0.003

# LLVM may fuse a multiply and an add (one rounding instead of two) and turn a division into a multiplication by
# the reciprocal: 4-5 % off a pass (and 7 % off the fold, coverage._kernels), results within an ulp or two of
# IEEE's. The other fast-math flags are left out: "nnan"/"ninf" would let LLVM drop the NaN tests that mark
# cells off the DEM, and "reassoc"/"afn" gained nothing measurable.
FASTMATH = {"contract", "arcp"}   # (Numba takes a set; never changed)
# Compiled in as a constant (Numba reads globals once): the single-band variant below drops the loops over a
# mast's other bands, which cost a single band's pass 2-3 %.
ONE_BAND = False
# Likewise: False in the variants without P.1812 (at the end of this module), which then drop its walk state and
# branches; the registers they held served the other models' tails (1.06x a pass).
WITH_P1812 = True
# In the kernels each branch on P.1812 tests ``WITH_P1812 and ...`` and the other bands' loop sits under ``if not
# ONE_BAND``: Numba drops a branch on a constant before it types it, so the variants compile none of that code
# (a first run on an empty Numba cache about 3 s shorter); a flag held in a variable would still be compiled.


@intrinsic
def _float_bits(typingctx, x):
    """The bits of a float64 as an int64 (a bitcast, no instruction)."""
    if x != numba_types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return numba_types.int64(numba_types.float64), codegen


@intrinsic
def _bits_float(typingctx, i):
    """The float64 whose bits are the int64 ``i``."""
    if i != numba_types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return numba_types.float64(numba_types.int64), codegen


SMALLEST_NORMAL = 2.2250738585072014e-308
LARGEST_FLOAT = 1.7976931348623157e308
# log10(x) = e log10(2) + log10(c) + log10(1 + r) for x = 2^e m, m in [1, 2) and c the centre of m's 1/128th of
# that range, r = m / c - 1 (|r| < 1/256: the series below to r^7, the next term below 1e-19)
_LOG_TABLE_BITS = 7
_LOG_INV_C = 1.0 / (1.0 + (np.arange(2 ** _LOG_TABLE_BITS) + 0.5) / 2 ** _LOG_TABLE_BITS)   # 1/c, rounded
_LOG_C = -np.log(_LOG_INV_C)   # ln of the exact reciprocal of the stored 1/c
_LOG10_2 = math.log10(2.0)
_LOG10_E = 1.0 / math.log(10.0)
# bounds on _log10_near's error (tests check them): in units in the last place, and absolute (near log10 x = 0,
# where the table's term and the series' cancel)
LOG10_NEAR_ULP = 2
LOG10_NEAR_ABS = 2.5e-16


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _log10_near(x):
    """log10(x) of a float64 within ``LOG10_NEAR_ULP`` units in the last place or ``LOG10_NEAR_ABS``, whichever is
    larger, inline: libm's log10 is a call (13-20 ns on these machines; two a cell were 7 % of a pass). Zero,
    negatives, subnormals, infinities and NaN go to libm, so that they give what it gives. (Other types do not
    compile: the bitcasts take float64 only.)"""
    if not (x >= SMALLEST_NORMAL and x <= LARGEST_FLOAT):
        return math.log10(x)
    bits = _float_bits(x)
    e = (bits >> 52) - 1023
    m = _bits_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)   # the mantissa, in [1, 2)
    i = (bits >> (52 - _LOG_TABLE_BITS)) & (2 ** _LOG_TABLE_BITS - 1)
    r = m * _LOG_INV_C[i] - 1.0
    z = r * r
    # ln(1 + r) = r - r²/2 + r³/3 - ... - r^6/6 + r^7/7, in pairs (two shorter chains than Horner's one)
    ln1p = (r + z * (-0.5 + r * (1.0 / 3.0))) + (z * z) * ((-0.25 + r * 0.2) + z * (-1.0 / 6.0 + r * (1.0 / 7.0)))
    return e * _LOG10_2 + (_LOG_C[i] + ln1p) * _LOG10_E


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _j(nu):
    if nu <= -0.78:
        return 0.0
    return 6.9 + 20.0 * _log10_near(math.sqrt((nu - 0.1) ** 2 + 1.0) + nu - 0.1)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _u(i):
    """Index ``i`` (known to be >= 0) as unsigned: Numba then indexes without the wraparound of negative indices,
    several instructions a read in the kernels' inner loops."""
    return np.uint64(i)


@njit(cache=True, fastmath=FASTMATH)
def _bilinear(z, r, c):
    nrow, ncol = z.shape
    if r < 0.0:
        r = 0.0
    if c < 0.0:
        c = 0.0
    if r > nrow - 1.0:
        r = nrow - 1.0
    if c > ncol - 1.0:
        c = ncol - 1.0
    # Signed integers, made unsigned only to index: x86 converts a double to and from an unsigned integer in
    # several instructions each, and these four conversions are on every sample's critical path (1.10× a pass).
    r0 = np.int64(r)
    c0 = np.int64(c)
    return _interpolate(z, r0, c0, min(r0 + 1, nrow - 1), min(c0 + 1, ncol - 1), r - r0, c - c0)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _bilinear_inside(z, r, c):
    """:func:`_bilinear` for 0 <= r < nrow - 1 and 0 <= c < ncol - 1 (the caller knows): without the clamps, which
    lay on every sample's critical path (the same arithmetic, so the same bits)."""
    r0 = np.int64(r)
    c0 = np.int64(c)
    return _interpolate(z, r0, c0, r0 + 1, c0 + 1, r - r0, c - c0)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _interpolate(z, r0, c0, r1, c1, fr, fc):
    top = z[_u(r0), _u(c0)] * (1.0 - fc) + z[_u(r0), _u(c1)] * fc
    bot = z[_u(r1), _u(c0)] * (1.0 - fc) + z[_u(r1), _u(c1)] * fc
    return top * (1.0 - fr) + bot * fr


INSIDE_MARGIN = 1e-6   # cells: how far inside the grid's first and last rows and columns unclamped samples stay


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _inside_samples(r, c, dr, dc, nrow, ncol):
    """How many steps (dr, dc) from (r, c) every sample stays where :func:`_bilinear_inside` may read it, with
    ``INSIDE_MARGIN`` to spare from every edge (rows and columns 0 and n - 1), so that no rounding takes one beyond;
    -1 when (r, c) itself is not there."""
    low = INSIDE_MARGIN
    top_r = nrow - 1.0 - INSIDE_MARGIN
    top_c = ncol - 1.0 - INSIDE_MARGIN
    if not (low <= r <= top_r and low <= c <= top_c):
        return -1
    steps = 1e18
    if dr > 0.0:
        steps = min(steps, (top_r - r) / dr)
    elif dr < 0.0:
        steps = min(steps, (r - low) / -dr)
    if dc > 0.0:
        steps = min(steps, (top_c - c) / dc)
    elif dc < 0.0:
        steps = min(steps, (c - low) / -dc)
    return np.int64(steps)


@njit(cache=True, fastmath=FASTMATH)
def _height_gain(y, beta, g_min):
    b = beta * y
    if b > 2.0:
        g = 17.6 * math.sqrt(b - 1.1) - 5.0 * math.log10(b - 1.1) - 8.0
    else:
        g = 20.0 * math.log10(b + 0.1 * b * b * b)
    return max(g, g_min)


@njit(cache=True, fastmath=FASTMATH)
def _ground_factor(f_ghz):
    """((εr − 1)² + (18σ/f)²)^(−1/4) of P.526-15 eq. (64), average land; constant along a ray."""
    return ((LAND_EPS - 1.0) ** 2 + (18.0 * LAND_SIGMA / f_ghz) ** 2) ** -0.25


@njit(cache=True, fastmath=FASTMATH)
def _first_term(d, hte, hre, a, f13, ground):
    """First-term spherical-earth diffraction; ``f13`` = f^(1/3), ``ground`` from _ground_factor."""
    a13 = a ** (-1.0 / 3.0)
    k = 0.036 * a13 / f13 * ground
    k2 = k * k
    beta = (1.0 + 1.6 * k2 + 0.67 * k2 * k2) / (1.0 + 4.5 * k2 + 1.53 * k2 * k2)
    x = 21.88 * beta * f13 * a13 * a13 * d
    yf = 0.9575 * beta * f13 * f13 * a13
    if x >= 1.6:
        fx = 11.0 + 10.0 * math.log10(x) - 17.6 * x
    else:
        fx = -20.0 * math.log10(x) - 5.6488 * x ** 1.425
    g_min = 2.0 + 20.0 * math.log10(k)
    return -fx - _height_gain(yf * hte, beta, g_min) - _height_gain(yf * hre, beta, g_min)


@njit(cache=True, fastmath=FASTMATH)
def _spherical(d, hte, hre, a, lam, f13, ground):
    """Spherical-earth diffraction, P.526-15 §4.5.2; ``f13``, ``ground`` as for _first_term."""
    hte = max(hte, 1e-3)
    hre = max(hre, 1e-3)
    dlos = math.sqrt(2.0 * a) * (math.sqrt(0.001 * hte) + math.sqrt(0.001 * hre))
    if d >= dlos:
        return _first_term(d, hte, hre, a, f13, ground)
    # Nearly every path clears even where it is lowest above the smooth earth by more than hreq's largest value
    # (at mid-path): then it clears at the point below too, and the loss is 0 without solving for that point.
    x_low = min(max(0.5 * d + a * (hte - hre) / (1000.0 * d), 0.0), d)
    if hte + (hre - hte) * x_low / d - 500.0 * x_low * (d - x_low) / a - 1e-6 > 17.456 * math.sqrt(0.25 * d * lam):
        return 0.0
    c = (hte - hre) / (hte + hre)
    m = 250.0 * d * d / (a * (hte + hre))
    arg = 1.5 * c * math.sqrt(3.0 * m / (m + 1.0) ** 3)
    arg = min(1.0, max(-1.0, arg))
    b = 2.0 * math.sqrt((m + 1.0) / (3.0 * m)) * math.cos(math.pi / 3.0 + math.acos(arg) / 3.0)
    d1 = d / 2.0 * (1.0 + b)
    d2 = d - d1
    hse = ((hte - 500.0 * d1 * d1 / a) * d2 + (hre - 500.0 * d2 * d2 / a) * d1) / d
    hreq = 17.456 * math.sqrt(d1 * d2 * lam / d)
    if hse > hreq:
        return 0.0
    aem = 500.0 * (d / (math.sqrt(hte) + math.sqrt(hre))) ** 2
    return max(0.0, (1.0 - hse / hreq) * _first_term(d, hte, hre, aem, f13, ground))


@njit(cache=True, fastmath=FASTMATH)
def _bull_final(luc, d):
    return luc + (1.0 - math.exp(-luc / 6.0)) * (10.0 + 0.02 * d)


@njit(cache=True, fastmath=FASTMATH)
def _nu(excess, x, d, lam):
    return excess * math.sqrt(0.002 * d / (lam * x * (d - x)))


@njit(cache=True, fastmath=FASTMATH)
def _bullington_smooth(k, step, d, hts, hrs, ce, lam):
    """Bullington over a zero-height profile sampled at i*step, i = 1..k-1 (O(log k))."""
    if k < 2:
        return 0.0
    c5 = 500.0 * ce
    # Stim: max_i (c5 x_i (d - x_i) - hts) / x_i is concave in x_i: peak near sqrt(hts/c5)
    i0 = int(math.sqrt(max(hts, 0.0) / c5) / step)
    stim = -1e300
    for i in (i0, i0 + 1):
        i = min(max(i, 1), k - 1)
        x = i * step
        stim = max(stim, (c5 * x * (d - x) - hts) / x)
    s_tr = (hrs - hts) / d
    if stim < s_tr:
        # LOS: nu is unimodal over i for a smooth earth; ternary search on integers
        lo, hi = 1, k - 1
        while hi - lo > 2:
            m1 = lo + (hi - lo) // 3
            m2 = hi - (hi - lo) // 3
            x1, x2 = m1 * step, m2 * step
            n1 = _nu(c5 * x1 * (d - x1) - (hts * (d - x1) + hrs * x1) / d, x1, d, lam)
            n2 = _nu(c5 * x2 * (d - x2) - (hts * (d - x2) + hrs * x2) / d, x2, d, lam)
            if n1 < n2:
                lo = m1 + 1
            else:
                hi = m2 - 1
        numax = -1e300
        for i in range(lo, hi + 1):
            x = i * step
            numax = max(numax, _nu(c5 * x * (d - x) - (hts * (d - x) + hrs * x) / d, x, d, lam))
        return _bull_final(_j(numax), d)
    i0 = k - int(math.sqrt(max(hrs, 0.0) / c5) / step)
    srim = -1e300
    for i in (i0 - 1, i0):
        i = min(max(i, 1), k - 1)
        x = i * step
        srim = max(srim, (c5 * x * (d - x) - hrs) / (d - x))
    db = (hrs - hts + srim * d) / (stim + srim)
    nub = _nu(hts + stim * db - (hts * (d - db) + hrs * db) / d, db, d, lam)
    return _bull_final(_j(nub), d)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _cross(ax, ay, bx, by, cx, cy):
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


@njit(cache=True, fastmath=FASTMATH)
def _hull_push(hx, hy, n, x, y):
    """Append (x, y) to the upper hull of points sorted by x (monotone chain); the hull's new size. A hull keeps
    its points' coordinates, not indices into the profile: its queries then read one array, not an index and then
    two; the new point is at position size - 1."""
    while n >= 2 and _cross(hx[_u(n - 2)], hy[_u(n - 2)], hx[_u(n - 1)], hy[_u(n - 1)], x, y) >= 0.0:
        n -= 1
    hx[_u(n)] = x
    hy[_u(n)] = y
    return n + 1


@njit(cache=True, fastmath=FASTMATH)
def _hull_tangent_back(hx, hy, n, qx, qy):
    """max over hull points of (y - qy) / (qx - x), for qx right of all points, and its hull position."""
    lo, hi = 0, n - 1
    while lo < hi:   # the two updates as selects, not a branch the CPU would mispredict half the time
        mid = (lo + hi) // 2
        right = (hy[_u(mid + 1)] - qy) * (qx - hx[_u(mid)]) >= (hy[_u(mid)] - qy) * (qx - hx[_u(mid + 1)])
        lo = mid + 1 if right else lo
        hi = hi if right else mid
    return (hy[_u(lo)] - qy) / (qx - hx[_u(lo)]), lo


@njit(cache=True, fastmath=FASTMATH)
def _hull_support(hx, hy, n, s):
    """Hull position maximising y - s*x (edge slopes decrease along an upper hull)."""
    lo, hi = 0, n - 1
    while lo < hi:   # as in _hull_tangent_back
        mid = (lo + hi) // 2
        right = hy[_u(mid + 1)] - hy[_u(mid)] >= s * (hx[_u(mid + 1)] - hx[_u(mid)])
        lo = mid + 1 if right else lo
        hi = hi if right else mid
    return lo


RAY_MULTIPLE = 8  # rays fall on the axes and the diagonals, where cells lie exactly on a ray
# samples before each receiver taken on its own straight line, not the ray's (benchmarks/RESULTS.md):
EXACT_TAIL = 12   # for loss: 99.9% of stand-in cells within 1 dB of the reference, as with 16, for 8% less time
LOS_TAIL = 2      # for the LOS flag alone, which the far profile hardly moves (99.8% agreement)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _last_sample(length):
    """Index of the last intermediate point of a profile ``length`` samples long, as in
    :func:`phusong.propagation.reference.profile`: samples at 0, 1, ... below ``length``,
    less the last when it falls within half a step of the receiver."""
    m = max(int(math.ceil(length)) - 1, 0)
    if m > 0 and length - m < 0.5:
        m -= 1
    return m


ASSIGN_BLOCKS = 16   # row blocks of assign_cells' parallel counting sort (fixed: the order never depends on threads)
# atan(t)/t on 0 <= t <= 1 as a polynomial in t² (a least-squares Chebyshev fit, degree 8): atan within 2.1e-8 rad
_ATAN_COEFFS = (0.9999998999941802, -0.3333267446736856, 0.19987155364058634, -0.14170082720898414,
                0.1053172220453055, -0.07302857264393997, 0.040576913263555565, -0.014891472278100271,
                0.0025802114686115005)
ATAN_NEAR_ERROR = 1e-7   # a bound on _atan2_near's error (rad), with room (tests check the fit against it)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _atan2_near(y, x):
    """atan2(y, x) within ``ATAN_NEAR_ERROR`` rad, without libm's atan2 (several times dearer)."""
    ax = abs(x)
    ay = abs(y)
    if not ax + ay > 0.0:
        return math.atan2(y, x)   # (the origin with signed zeros: 0 or ±π; NaN: NaN; as libm gives)
    hi = max(ax, ay)
    t = min(ax, ay) / hi
    s = t * t
    p = _ATAN_COEFFS[8]
    for c in _ATAN_COEFFS[7::-1]:
        p = p * s + c
    a = t * p
    if ay > ax:
        a = 0.5 * math.pi - a
    if x < 0.0:
        a = math.pi - a
    return math.copysign(a, y)   # (y = -0.0 included, as libm)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _interleave(k, ways, per_way):
    """The item a parallel loop's k-th step takes among ``ways`` runs of ``per_way`` items, one run after another:
    steps 0, 1, 2, ... take the first item of each run, then the second of each, and so on. Each chunk of
    consecutive steps (:func:`phusong._threads.over_chunks`) then covers every run (every direction, both halves
    of a window), so a window cut by the grid's edge or the study area still splits evenly between the chunks."""
    k = np.int64(k)   # (an unsigned index mixed with signed ints would make Numba compute in floats)
    return (k % ways) * per_way + k // ways


def assign_cells(r_tx, c_tx, row0, col0, nrow, ncol, n_rays, n, step_cells, cell_mask):
    """Group the window's cells by their nearest ray, for ``sweep_cells``.

    Cells beyond n + 0.5 samples, and cells where ``cell_mask`` (uint8 on the terrain's grid; shape (1, 1):
    every cell) is 0, belong to no ray. Returns (order, start): ``order`` lists cell indices (row-major in
    the window) ray by ray; ray j's span ``order[start[j]:start[j+1]]``. A counting sort in a fixed number of
    row blocks, counted and scattered on every thread (the blocks shared between them), so the order never
    depends on the thread count.
    """
    ray = np.empty(nrow * ncol, dtype=np.int32)
    counts = np.zeros((ASSIGN_BLOCKS, n_rays), dtype=np.int64)
    over_chunks(_count_rays, ASSIGN_BLOCKS, r_tx, c_tx, row0, col0, nrow, ncol, n_rays, n, step_cells, cell_mask,
                ray, counts)
    # ray by ray, block by block: each ray's cells stay in row-major order
    total_of_ray = counts.sum(axis=0)
    start = np.zeros(n_rays + 1, dtype=np.int64)
    np.cumsum(total_of_ray, out=start[1:])
    fill = start[:-1] + np.cumsum(counts, axis=0) - counts
    order = np.empty(int(start[n_rays]), dtype=np.int64)
    over_chunks(_scatter_cells, ASSIGN_BLOCKS, nrow, ncol, ray, fill, order)
    return order, start


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _count_rays(lo, hi, r_tx, c_tx, row0, col0, nrow, ncol, n_rays, n, step_cells, cell_mask, ray, counts):
    """assign_cells' row blocks lo..hi-1: each cell's ray (-1: none) into ``ray``, and how many cells each block
    gives each ray into ``counts``."""
    two_pi = 2.0 * math.pi
    everywhere = cell_mask.shape[0] == 1 and cell_mask.shape[1] == 1
    rows_per_block = (nrow + ASSIGN_BLOCKS - 1) // ASSIGN_BLOCKS
    # A cell's ray is decided on a cheap angle unless that lies within its error of a boundary between two rays:
    # then on libm's atan2, so that every cell gets the ray the exact rule gives.
    slack = 2.0 * ATAN_NEAR_ERROR * n_rays / two_pi + 1e-9
    for t in range(lo, hi):
        blk = _interleave(t, 2, ASSIGN_BLOCKS // 2)   # (the window's two halves side by side)
        for i in range(blk * rows_per_block, min((blk + 1) * rows_per_block, nrow)):
            dy = r_tx - (row0 + i)  # north positive
            for jj in range(ncol):
                dx = (col0 + jj) - c_tx
                if (math.sqrt(dx * dx + dy * dy) / step_cells > n + 0.5
                        or (not everywhere and cell_mask[_u(row0 + i), _u(col0 + jj)] == 0)):
                    ray[_u(i * ncol + jj)] = -1
                    continue
                az = _atan2_near(dx, dy)
                if az < 0.0:
                    az += two_pi
                w = az / two_pi * n_rays + 0.5
                k = np.int64(w)
                if w - k < slack or w - k > 1.0 - slack:
                    az = math.atan2(dx, dy)
                    if az < 0.0:
                        az += two_pi
                    k = np.int64(az / two_pi * n_rays + 0.5)
                k = k - n_rays if k >= n_rays else k   # az = 2π less half a ray: ray 0
                ray[_u(i * ncol + jj)] = k
                counts[_u(blk), _u(k)] += 1


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _scatter_cells(lo, hi, nrow, ncol, ray, fill, order):
    """assign_cells' row blocks lo..hi-1: each cell's index into ``order`` at its block's next place for its ray."""
    rows_per_block = (nrow + ASSIGN_BLOCKS - 1) // ASSIGN_BLOCKS
    for t in range(lo, hi):
        blk = _interleave(t, 2, ASSIGN_BLOCKS // 2)
        for p in range(blk * rows_per_block * ncol, min((blk + 1) * rows_per_block, nrow) * ncol):
            k = ray[_u(p)]
            if k >= 0:
                order[_u(fill[_u(blk), _u(k)])] = p
                fill[_u(blk), _u(k)] += 1


@njit(cache=True, fastmath=FASTMATH)
def _counting_sort(key, n_keys):
    """Indices of ``key`` grouped by value, in their order (negative keys left out), and each group's start."""
    start = np.zeros(n_keys + 1, dtype=np.int64)
    for b in key:
        if b >= 0:
            start[b + 1] += 1
    for b in range(n_keys):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    order = np.empty(start[n_keys], dtype=np.int64)
    for i in range(key.size):
        b = key[i]
        if b >= 0:
            order[fill[b]] = i
            fill[b] += 1
    return order, start


@njit(cache=True, fastmath=FASTMATH)
def _ray_cells(heights, classes, class_height_m, r_tx, c_tx, j, n_rays, n, step_cells, step_km, htg, hrg, f_mhz, ae, mode, tail,
               order, start, row0, col0, ncol, loss, los, time_pct, n0, lat_deg, tab, consts, inv_x, band):
    """Walk ray ``j`` outward and evaluate each of its cells when the ray reaches the cell's sample m0.

    A cell's profile is the ray's samples 1..m0 (O(1) amortised state updates per
    sample, shared by all the ray's cells), then its own straight line's samples
    m0+1..m and the cell centre as the receiver. The samples that matter most, next
    to the receiver, are therefore exact; the ray part is at most half a ray spacing
    off the line. mode 0: delta-Bullington; 1: Bullington on the actual profile;
    2: LOS only (loss = free space); 3 (``P1812``): ITU-R P.1812-6, with the clutter
    height of the land-cover class (``class_height_m[classes]``, nearest cell) added to every
    intermediate point. Cells whose profile leaves the DEM's data stay NaN/255. ``inv_x[k]`` is 1 / (k step_km).

    ``f_mhz`` holds one frequency per band and ``loss`` one layer each: the walk, the tails and the hull queries
    do not depend on the frequency, so a mast's bands share them; each band's numbers are those of a sweep
    of its own (``band``: each band's (λ, f^1/3, ground factor, free-space constant), from :func:`_bands`).
    P.1812 takes one band.
    """
    cells = order[start[j]:start[j + 1]]
    n_cells = cells.size
    if n_cells == 0:
        return
    rows = np.empty(n_cells, dtype=np.int64)
    cols = np.empty(n_cells, dtype=np.int64)
    lengths = np.empty(n_cells)  # in samples
    first = np.empty(n_cells, dtype=np.int64)  # m0 of each cell: where its own line takes over
    # A cell's row by a multiplication: exact (the quotient's fraction stays 0.5 / ncol from an integer, far beyond
    # the product's rounding), where an integer division took a few % of a pass
    inv_ncol = 1.0 / ncol
    for p in range(n_cells):
        i = np.int64((cells[p] + 0.5) * inv_ncol)
        rows[p] = i
        cols[p] = cells[p] - i * ncol
        ur = row0 + i - r_tx
        uc = col0 + cols[p] - c_tx
        lengths[p] = math.sqrt(ur * ur + uc * uc) / step_cells
        first[p] = min(max(_last_sample(lengths[p]) - tail, 0), n)
    last = first.max()   # the walk stops at the ray's last cell
    nb = 1 if ONE_BAND else f_mhz.size
    lam = band[0, 0]   # (P.1812's only band)
    f_ghz = f_mhz[0] / 1000.0
    f13 = band[0, 1]
    ground = band[0, 2]
    ce = 1.0 / ae
    c5 = 500.0 * ce
    full = WITH_P1812 and mode == P1812
    with_ab = full and time_pct < 50.0   # diffraction also for the β0 % radius (P.1812-6 §4.3.5)
    c5b = 500.0 / P1812_AB_KM
    nn = n + 1 if full else 1
    nab = n + 1 if with_ab else 1
    az = 2.0 * math.pi * j / n_rays
    dr = -math.cos(az) * step_cells  # rows grow southward
    dc = math.sin(az) * step_cells
    xs = np.empty(n + 1)
    hs = np.empty(n + 1)
    hull_gx = np.empty(n + 1)                # the curved profile (ground less the earth's bulge, clutter on it)
    hull_gy = np.empty(n + 1)
    hull_hx = np.empty(n + 1)                # the plain ground profile
    hull_hy = np.empty(n + 1)
    # P.1812: ground less the earth's bulge, for the horizons; hull_c holds its points' indices on the profile
    hull_c = np.empty(nn, dtype=np.int64)
    hull_cx = np.empty(nn)
    hull_cy = np.empty(nn)
    hull_g2x = np.empty(nab)                 # P.1812 below 50 %: the curved profile for radius ab
    hull_g2y = np.empty(nab)
    xe = np.empty(tail + 2)
    he = np.empty(tail + 2)
    te = np.empty(tail + 2)                  # ground plus clutter
    ce_ = np.empty(tail + 2)
    ng = 0
    nh = 0
    nc = 0
    ng2 = 0
    h0 = _bilinear(heights, r_tx, c_tx)
    hts = h0 + htg
    # Samples that need no clamping: the walk's first ``walk_inside`` and, when the site lies inside, the tail
    # samples of every cell off the grid's edge rows and columns (between two points inside, with the site's margin)
    walk_inside = _inside_samples(r_tx, c_tx, dr, dc, heights.shape[0], heights.shape[1])
    tail_inside = walk_inside >= 0
    last_row = heights.shape[0] - 1
    last_col = heights.shape[1] - 1
    xs[0] = 0.0
    hs[0] = h0
    v1 = 0.0  # least-squares sums (P.452-17 eqs. 161-162) over points 0..m0
    v2 = 0.0
    max_curved_slope = -1e300  # max (g_i - hts)/x_i over the ray's intermediate points
    max_plain_slope = -1e300   # max (h_i - hts)/x_i
    max_horizon = -1e300       # P.1812: max (c_i - hts)/x_i (eq. 77), and where it is first reached
    k_horizon = 0
    max_curved2 = -1e300
    by_m0, m0_start = _counting_sort(first, n + 1)
    nl = 1 if full else n_cells   # (P.1812 evaluates its cells in the walk)
    late = np.empty((nl, 2 * nb))   # per cell and band: Bullington's ν, the smooth-earth term
    path_km = np.empty(nl)
    done = np.zeros(nl, dtype=np.uint8)
    has_nu = np.zeros(nl, dtype=np.uint8)
    # The ray's samples first, in a loop of their own: independent of each other, they overlap there (in the walk
    # each waited for its reads before its hulls' updates)
    for m0 in range(1, last + 1):
        if m0 <= walk_inside:
            hs[_u(m0)] = _bilinear_inside(heights, r_tx + dr * m0, c_tx + dc * m0)
        else:
            hs[_u(m0)] = _sample(heights, r_tx + dr * m0, c_tx + dc * m0)
    for m0 in range(last + 1):
        if m0 > 0:
            h = hs[_u(m0)]
            if math.isnan(h):
                break  # off the DEM or its data: this ray's remaining cells stay NaN
            x = m0 * step_km
            xs[_u(m0)] = x
            g = h + _clutter_at(classes, class_height_m, r_tx + dr * m0, c_tx + dc * m0) if WITH_P1812 and full else h
            gc = g - c5 * x * x
            v1, v2 = _lsq_add(v1, v2, xs[_u(m0 - 1)], hs[_u(m0 - 1)], x, h)
            if mode != 2:
                ng = _hull_push(hull_gx, hull_gy, ng, x, gc)
                nh = _hull_push(hull_hx, hull_hy, nh, x, h)
            max_curved_slope = max(max_curved_slope, (gc - hts) / x)
            max_plain_slope = max(max_plain_slope, (h - hts) / x)
            if WITH_P1812 and full:
                cc = h - c5 * x * x
                nc = _hull_push(hull_cx, hull_cy, nc, x, cc)
                hull_c[nc - 1] = m0
                if (cc - hts) / x > max_horizon:
                    max_horizon = (cc - hts) / x
                    k_horizon = m0
            if WITH_P1812 and with_ab:
                gc2 = g - c5b * x * x
                ng2 = _hull_push(hull_g2x, hull_g2y, ng2, x, gc2)
                max_curved2 = max(max_curved2, (gc2 - hts) / x)
        for p in range(m0_start[m0], m0_start[m0 + 1]):
            q = by_m0[p]
            i = rows[q]
            jj = cols[q]
            hr = heights[row0 + i, col0 + jj]
            if math.isnan(hr):
                continue
            length = lengths[q]
            m = _last_sample(length)
            sr = 0.0
            sc = 0.0
            if m > m0:  # one sample along the cell's line, in cells (length >= 1.5 here)
                sr = (row0 + i - r_tx) / length
                sc = (col0 + jj - c_tx) / length
            d = length * step_km
            hrs = hr + hrg
            s_tr = (hrs - hts) / d if d > 0.0 else 0.0
            q_curved = c5 * d * d - hrs
            q_curved2 = c5b * d * d - hrs
            ne = 0
            curved = max_curved_slope
            plain = max_plain_slope
            horizon = max_horizon
            k_hor = k_horizon
            curved2 = max_curved2
            # the tail's share of the receiver-side maxima and of the least-squares sums, taken as it is sampled
            srim = -1e300    # max (g - c5 x² + c5 d² - hrs) / (d - x) over the curved profile
            srim2 = -1e300   # the same for the effective radius ab
            a_r = -1e300     # max (h - hrs) / (d - x) over the plain one
            hobs = -1e300    # the highest point above the line of slope s_tr (plus hts)
            v1c = v1
            v2c = v2
            xp = xs[m0]
            hp = hs[m0]
            # The tail's samples first, in a loop of their own: independent of each other, they overlap there (in
            # the loop below each sample's arithmetic waited for its reads)
            inside = tail_inside and 0 < row0 + i < last_row and 0 < col0 + jj < last_col
            for k in range(m0 + 1, m + 1):
                if inside:
                    he[_u(k - m0 - 1)] = _bilinear_inside(heights, r_tx + sr * k, c_tx + sc * k)
                else:   # (on the DEM: between site and cell)
                    he[_u(k - m0 - 1)] = _bilinear(heights, r_tx + sr * k, c_tx + sc * k)
            for k in range(m0 + 1, m + 1):  # the cell's own line near the receiver
                h = he[_u(ne)]
                if math.isnan(h):
                    break
                x = k * step_km
                g = h + _clutter_at(classes, class_height_m, r_tx + sr * k, c_tx + sc * k) if WITH_P1812 and full else h
                xe[_u(ne)] = x
                te[_u(ne)] = g
                gc = g - c5 * x * x
                curved = max(curved, (gc - hts) * inv_x[_u(k)])
                plain = max(plain, (h - hts) * inv_x[_u(k)])
                inv = 1.0 / (d - x)
                srim = max(srim, (gc + q_curved) * inv)
                a_r = max(a_r, (h - hrs) * inv)
                hobs = max(hobs, h - s_tr * x)
                v1c, v2c = _lsq_add(v1c, v2c, xp, hp, x, h)
                xp = x
                hp = h
                if WITH_P1812 and full:
                    ce_[ne] = h - c5 * x * x
                    if (ce_[ne] - hts) * inv_x[k] > horizon:
                        horizon = (ce_[ne] - hts) * inv_x[k]
                        k_hor = k
                if WITH_P1812 and with_ab:
                    gc2 = g - c5b * x * x
                    curved2 = max(curved2, (gc2 - hts) * inv_x[k])
                    srim2 = max(srim2, (gc2 + q_curved2) * inv)
                ne += 1
            if ne < m - m0:  # the cell's own line crosses missing data: no value
                continue
            # The profile's extremes, read here and passed on as numbers: Numba counts references to every array
            # handed to a function it inlines, which cost ~15 % of a pass when done per cell.
            ld = 0.0
            visible = 1
            hst = h0
            hsr = hr
            if m >= 1 and d > 0.0:
                v1c, v2c = _lsq_add(v1c, v2c, xp, hp, d, hr)   # the last segment, to the receiver
                hst = (2.0 * v1c * d - v2c) / (d * d)   # P.452-17 eqs. (163)-(164)
                hsr = (v2c - v1c * d) / (d * d)
                stim = curved + c5 * d
                visible = 1 if stim < s_tr else 0
                if mode != 2:
                    hobs -= hts
                    if mode != 1 and m0 > 0:   # the obstacle correction's ray part (P.452-17 §5.1.6.3)
                        top = _hull_support(hull_hx, hull_hy, nh, s_tr)
                        hobs = max(hobs, hull_hy[top] - hts - s_tr * hull_hx[top])
                        if hobs > 0.0:
                            a_r = max(a_r, _hull_tangent_back(hull_hx, hull_hy, nh, d, hrs)[0])
                    numax = -1e300   # Bullington's construction: ν on a line-of-sight path, else the receiver's slope
                    if visible:
                        numax = max(_ray_numax(hull_gx, hull_gy, ng, d, hts, hrs, c5, lam) if m0 > 0 else numax,
                                    _tail_numax(xe, te, ne, d, hts, hrs, c5, lam))
                    elif m0 > 0:
                        srim = max(srim, _hull_tangent_back(hull_gx, hull_gy, ng, d, hrs - c5 * d * d)[0])
                    if WITH_P1812 and full:
                        ld = _diffraction(d, m, h0, hr, hts, hrs, hst, hsr, visible, stim, s_tr, numax, srim, hobs,
                                          plain, a_r, lam, f13, ground, ae, c5, step_km, mode)
                    else:
                        late[q, 0] = _bullington_nu(d, hts, hrs, visible, stim, s_tr, numax, srim, c5, lam)
                        late[q, 1] = _smooth_term(d, m, h0, hr, hts, hrs, hst, hsr, s_tr, hobs, plain, a_r, lam, f13,
                                                  ground, ae, step_km, mode)
                        has_nu[q] = 1
                        # A mast's other bands: the same terms at their wavelengths (the first band's code path
                        # is kept apart: one loop over all, even compiled for one band, cost its pass 1-2 %)
                        if not ONE_BAND:
                            for b in range(1, nb):
                                lam_b = band[b, 0]
                                if visible:
                                    numax = max(_ray_numax(hull_gx, hull_gy, ng, d, hts, hrs, c5, lam_b) if m0 > 0
                                                else -1e300, _tail_numax(xe, te, ne, d, hts, hrs, c5, lam_b))
                                late[q, 2 * b] = _bullington_nu(d, hts, hrs, visible, stim, s_tr, numax, srim, c5, lam_b)
                                late[q, 2 * b + 1] = _smooth_term(d, m, h0, hr, hts, hrs, hst, hsr, s_tr, hobs, plain,
                                                                  a_r, lam_b, band[b, 1], band[b, 2], ae, step_km, mode)
            if WITH_P1812 and full:
                ldb = ld
                if WITH_P1812 and with_ab and m >= 1 and d > 0.0:   # the same for the effective radius ab
                    stim = curved2 + c5b * d
                    visible_b = 1 if stim < s_tr else 0
                    srim = srim2
                    numax = -1e300
                    if visible_b:
                        numax = max(_ray_numax(hull_g2x, hull_g2y, ng2, d, hts, hrs, c5b, lam) if m0 > 0 else numax,
                                    _tail_numax(xe, te, ne, d, hts, hrs, c5b, lam))
                    elif m0 > 0:
                        srim = max(srim, _hull_tangent_back(hull_g2x, hull_g2y, ng2, d, hrs - c5b * d * d)[0])
                    ldb = _diffraction(d, m, h0, hr, hts, hrs, hst, hsr, visible_b, stim, s_tr, numax, srim, hobs,
                                       plain, a_r, lam, f13, ground, P1812_AB_KM, c5b, step_km, mode)
                # eq. (150): the horizon above the direct ray's elevation (compared as tangents; atan increases)
                trans_horizon = m >= 1 and horizon > (hrs - hts) / d - c5 * d
                tangent_r = 0.0
                k_r = 0
                dlt = 0.5 * d   # line of sight: only dlt + dlr = d is used unless ducting matters
                dlr = 0.5 * d
                if trans_horizon:
                    tangent_r, k_r = _receiver_horizon(d, hrs, c5, m0, hull_c, hull_cx, hull_cy, nc, xe, ce_, ne)
                    dlt = _profile_x(k_hor, m0, xs, xe)
                    dlr = d - _profile_x(k_r, m0, xs, xe)
                value = _p1812_cell(d, hts, hrs, f_ghz, ae, c5, ld, ldb, trans_horizon, horizon, dlt, tangent_r, dlr,
                                    time_pct, _lerp(tab, 0, length), _lerp(tab, 1, length),
                                    _lerp(tab, 2, length), _lower(tab, 3, length), consts)
                if math.isnan(value):
                    value = _p1812_exact(d, h0, hr, hts, hrs, htg, hrg, f_ghz, ae, c5, ld, ldb, hst, hsr, trans_horizon,
                                         horizon, k_hor, tangent_r, k_r, m0, xs, hs, xe, he, ne, time_pct, n0, lat_deg)
                loss[0, i, jj] = value
            else:
                path_km[q] = math.sqrt(d * d + ((hts - hrs) / 1000.0) ** 2)
                done[q] = 1
            los[i, jj] = visible
    # The logarithms and exponentials of the cells' losses, in a loop of their own: the cells' chains are
    # independent there, so the CPU overlaps them (in the walk each waited for the last).
    if not (WITH_P1812 and full):
        for q in range(n_cells):
            if done[q]:
                d = lengths[q] * step_km
                spread = 20.0 * _log10_near(max(path_km[q], 1e-6))
                # (kept: with a second use LLVM fuses this product into no sum below, in the one-band variant as
                # in the others, so that their last sums round alike)
                path_km[q] = spread
                for b in range(nb):
                    ld = _bullington_loss(late[q, 2 * b], d, late[q, 2 * b + 1]) if has_nu[q] else 0.0
                    loss[b, rows[q], cols[q]] = band[b, 3] + spread + ld


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _sample(heights, r, c):
    """Bilinear height; NaN off the DEM (more than half a cell beyond its edge cells)."""
    nrow, ncol = heights.shape
    if r < -0.5 or c < -0.5 or r > nrow - 0.5 or c > ncol - 0.5:
        return np.nan
    return _bilinear(heights, r, c)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _clutter_at(classes, class_height_m, r, c):
    """Clutter height (m) of the land-cover class of the cell holding fractional (row, col), clamped to the
    array (classes are not interpolated)."""
    nrow, ncol = classes.shape
    i = min(max(int(math.floor(r + 0.5)), 0), nrow - 1)
    k = min(max(int(math.floor(c + 0.5)), 0), ncol - 1)
    return class_height_m[classes[i, k]]


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _lsq_add(v1, v2, xp, hp, x, h):
    """Add the segment (xp, hp)-(x, h) to the least-squares sums of P.452-17 eqs. (161)-(162)."""
    return (v1 + (x - xp) * (h + hp),
            v2 + (x - xp) * (h * (2.0 * x + xp) + hp * (x + 2.0 * xp)))


@njit(cache=True, fastmath=FASTMATH)
def _ray_numax(hx, hy, ng, d, hts, hrs, c5, lam):
    """The largest ν (P.526-15 eq. (24)) over the ray part of a line-of-sight profile: at the hull point
    supporting the direct ray's slope and its neighbours (``hx``, ``hy``: the curved profile's hull)."""
    slope = (hrs - hts) / d - c5 * d  # excess_i = g_i - hts - slope * x_i
    pos = _hull_support(hx, hy, ng, slope)
    numax = -1e300
    for p in range(max(0, pos - 2), min(ng, pos + 3)):
        x = hx[p]
        numax = max(numax, _nu(hy[p] + c5 * x * d - (hts * (d - x) + hrs * x) / d, x, d, lam))
    return numax


@njit(cache=True, fastmath=FASTMATH)
def _tail_numax(xe, te, ne, d, hts, hrs, c5, lam):
    """The largest ν over the tail's points (``te``: the obstructing profile itself)."""
    numax = -1e300
    for e in range(ne):
        x = xe[e]
        numax = max(numax, _nu(te[e] + c5 * x * (d - x) - (hts * (d - x) + hrs * x) / d, x, d, lam))
    return numax


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _bullington_nu(d, hts, hrs, visible, stim, s_tr, numax, srim, c5, lam):
    """The ν of Bullington's construction on the actual profile (P.526-15 §4.5.1): ``numax`` on a line-of-sight
    path, else ν at the intersection of the transmitter's and the receiver's slopes."""
    if visible:
        return numax
    srim -= c5 * d
    db = (hrs - hts + srim * d) / (stim + srim)
    return _nu(hts + stim * db - (hts * (d - db) + hrs * db) / d, db, d, lam)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _bullington_loss(nu, d, smooth):
    """Delta-Bullington loss (dB): Bullington's for the profile's ν (P.526-15 §4.5.1) plus the smooth-earth
    term (:func:`_smooth_term`)."""
    return _bull_final(_j(nu), d) + smooth


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _smooth_term(d, m, h0, hr, hts, hrs, hst, hsr, s_tr, hobs, max_plain_slope, a_r, lam, f13, ground, ae, step_km,
                 mode):
    """The smooth-earth term of the loss: 0 in mode 1 (Bullington only), else :func:`_smooth_correction`."""
    if mode == 1:
        return 0.0
    return _smooth_correction(d, m, h0, hr, hts, hrs, hst, hsr, s_tr, hobs, max_plain_slope, a_r, lam, f13, ground,
                              ae, step_km)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _smooth_correction(d, m, h0, hr, hts, hrs, hst, hsr, s_tr, hobs, max_plain_slope, a_r, lam, f13, ground, ae,
                       step_km):
    """The delta-Bullington smooth-earth term max(Lsph - Lbs, 0) (P.526-15 §4.5.3), with P.452-17 §5.1.6.3's
    obstacle correction of the smooth-earth heights."""
    hstd = hst
    hsrd = hsr
    if hobs > 0.0:
        a_t = max_plain_slope - s_tr
        a_r += s_tr
        hstd -= hobs * a_t / (a_t + a_r)
        hsrd -= hobs * a_r / (a_t + a_r)
    hstd = min(hstd, h0)
    hsrd = min(hsrd, hr)
    hts_p = hts - hstd
    hrs_p = hrs - hsrd
    lsph = _spherical(d, hts_p, hrs_p, ae, lam, f13, ground)
    if lsph > 0.0:  # Lbs >= 0, so with Lsph = 0 the correction max(Lsph - Lbs, 0) is 0
        lsph = max(lsph - _bullington_smooth(m + 1, step_km, d, hts_p, hrs_p, 1.0 / ae, lam), 0.0)
    return lsph


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _diffraction(d, m, h0, hr, hts, hrs, hst, hsr, visible, stim, s_tr, numax, srim, hobs, max_plain_slope, a_r, lam,
                 f13, ground, ae, c5, step_km, mode):
    """Delta-Bullington diffraction loss (dB) from the profile's extremes, which the caller reads off the ray's
    hulls and the tail (every query the model makes is a maximum over the intermediate points): ``stim`` the
    transmitter-side slope of the curved profile (plus c5 d), ``s_tr`` the direct ray's, ``visible`` 1 on a
    line-of-sight path; ``numax`` the largest ν (line of sight) or ``srim`` the receiver-side slope (less c5 d);
    ``hobs`` the highest obstacle above the direct ray and ``a_r`` its receiver-side plain slope (P.452-17
    §5.1.6.3, read when hobs > 0); ``hst``/``hsr`` the least-squares surface's heights at the two ends.
    mode 1: Bullington only."""
    return _bullington_loss(_bullington_nu(d, hts, hrs, visible, stim, s_tr, numax, srim, c5, lam), d,
                            _smooth_term(d, m, h0, hr, hts, hrs, hst, hsr, s_tr, hobs, max_plain_slope, a_r, lam, f13,
                                         ground, ae, step_km, mode))


@njit(cache=True, fastmath=FASTMATH)
def p1812_constants(f_ghz, time_pct, n0, ae):
    """Terms of P.1812 that depend on the map only, as a tuple: 20 log f (eq. (8)); Lbs less its distance and angle terms
    (eqs. (44)–(45)); log10(p/50) (eq. (10)); I(p/100) (eq. (40)); the fixed part of Af (eq. (47)) and γd
    (eq. (51)); f^(1/3)."""
    lf = 25.0 * math.log10(f_ghz) - 2.5 * math.log10(f_ghz / 2.0) ** 2
    alf = 45.375 - 137.0 * f_ghz + 92.5 * f_ghz * f_ghz if f_ghz < 0.5 else 0.0
    f13 = f_ghz ** (1.0 / 3.0)
    return (20.0 * math.log10(f_ghz), 190.1 + lf - 0.15 * n0 - 10.125 * math.log10(50.0 / time_pct) ** 0.7,
            math.log10(time_pct / 50.0), _p1812.inverse_normal(time_pct / 100.0),
            102.45 + 20.0 * math.log10(f_ghz) + alf, 5e-5 * ae * f13, f13)


@njit(cache=True, fastmath=FASTMATH)
def p1812_tables(n, step_km, time_pct, lat_deg):
    """Per-distance terms of P.1812 for an inland path, at distances k·step_km (k = 0..n+1), interpolated
    per cell: β0 (eq. (5)), I(β0/100) (eq. (40)), log10(β0/50) (eq. (11)) and the lowest ducting time
    variability Ap (eq. (53) at β = β0, its largest value: μ2, μ3 ≤ 1 and Ap falls as β grows)."""
    tab = np.empty((4, n + 2))
    for k in range(n + 2):
        d = max(k * step_km, 1e-3)
        b0 = _p1812.beta0_pct(lat_deg, d, d)
        tab[0, k] = b0
        tab[1, k] = _p1812.inverse_normal(b0 / 100.0)
        tab[2, k] = math.log10(b0 / 50.0)
        tab[3, k] = _p1812.time_variability_db(time_pct, b0, d)
    return tab


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _lerp(tab, row, u):
    k = min(int(u), tab.shape[1] - 2)
    t = u - k
    return tab[row, k] * (1.0 - t) + tab[row, k + 1] * t


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _lower(tab, row, u):
    """The smaller of the two tabulated values around u: a bound that interpolation cannot overshoot."""
    k = min(int(u), tab.shape[1] - 2)
    return min(tab[row, k], tab[row, k + 1])


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _receiver_horizon(d, hrs, c5, m0, hull_c, hull_cx, hull_cy, nc, xe, ce_, ne):
    """(tangent, point) of the receiver's horizon, eq. (82a): the largest (c_i - qy)/(d - x_i) with
    qy = hrs - c5 d², over the ray part (hull query) and the tail (direct), the point nearest the receiver."""
    qy = hrs - c5 * d * d
    best = -1e300
    k_r = 0
    if m0 > 0:
        best, pos = _hull_tangent_back(hull_cx, hull_cy, nc, d, qy)
        k_r = hull_c[pos]
    for e in range(ne):
        v = (ce_[e] - qy) / (d - xe[e])
        if v >= best:
            best = v
            k_r = m0 + 1 + e
    return best, k_r


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _p1812_angles(d, hts, hrs, ae, c5, trans_horizon, horizon, tangent_r):
    """(θt, θr) in mrad, eqs. (76)–(82): from the horizon tangents on a trans-horizon path, else the
    direct ray's elevations (eqs. (78), (81))."""
    if trans_horizon:
        return 1000.0 * math.atan(horizon / 1000.0), 1000.0 * math.atan((tangent_r - 2.0 * c5 * d) / 1000.0)
    return (1000.0 * math.atan((hrs - hts) / (1000.0 * d) - d / (2.0 * ae)),
            1000.0 * math.atan((hts - hrs) / (1000.0 * d) - d / (2.0 * ae)))


@njit(cache=True, fastmath=FASTMATH)
def _p1812_cell(d, hts, hrs, f_ghz, ae, c5, ld50, ldb, trans_horizon, horizon, dlt, tangent_r, dlr, time_pct, b0,
                ib0, lb0b_term, ap_low, consts):
    """Basic transmission loss of ITU-R P.1812-6 eq. (69) at 50 % of locations for an inland path, or NaN when
    ducting may change it (then :func:`_p1812_exact`). Scalars only, so the call costs the walk nothing:
    ``ld50``/``ldb`` the delta-Bullington losses for ae and ab; ``horizon``/``tangent_r`` the two horizon
    tangents and ``dlt``/``dlr`` their distances on a trans-horizon path (on a line-of-sight path only
    dlt + dlr = d is used here); ``b0``, ``ib0`` = I(β0/100), ``lb0b_term`` = log10(β0/50) and ``ap_low`` (the
    lowest ducting Ap) from :func:`p1812_tables`; ``consts``: :func:`p1812_constants`.

    A lower bound of the ducting loss Lba — no receiver-side or line-of-sight site shielding, hm = 0
    (μ3 = 1), the largest β (β0: μ2 ≤ 1, and Ap falls as β grows) — shows for nearly every cell at 50 %
    of time that Lminbap ≥ Lba > Lbd, so that eq. (61) keeps Lbd and ducting's profile terms are not needed.
    """
    f20, tropo, log_p50, i_p, duct, gamma_d, f13 = consts
    lbfs = 92.4 + f20 + 10.0 * math.log10(max(d * d + ((hts - hrs) / 1000.0) ** 2, 1e-12))   # eq. (8)
    if d <= 0.0:   # the site's own cell (a site on a cell centre): no path for the rest, whose equations divide by d
        return lbfs   # free space over the antennas' height difference, as the other models give there
    theta_t, theta_r = _p1812_angles(d, hts, hrs, ae, c5, trans_horizon, horizon, tangent_r)
    theta = 1e3 * d / ae + theta_t + theta_r                                    # eq. (84)
    multipath = 2.6 * (1.0 - math.exp(-0.1 * (dlt + dlr))) if time_pct != 50.0 else 0.0   # eq. (9)
    lb0p = lbfs + multipath * log_p50                                           # eq. (10)
    lb0b = lbfs + multipath * lb0b_term                                         # eq. (11)
    fi = i_p / ib0 if time_pct > b0 else 1.0                                    # eq. (40)
    ldp = ld50 if time_pct == 50.0 else ld50 + fi * (ldb - ld50)                # eq. (41)
    lbd = lb0p + ldp                                                            # eq. (43)
    lba_low = (duct + 20.0 * math.log10(dlt + dlr)
               + gamma_d * (1e3 * d / ae + min(theta_t, 0.0) + min(theta_r, 0.0)) + ap_low - 1e-3)
    if lba_low <= lbd and trans_horizon:   # the horizons are exact there: so is eq. (48)'s site shielding
        lba_low += (_p1812._site_shielding_db(theta_t, dlt, f_ghz, f13)
                    + _p1812._site_shielding_db(theta_r, dlr, f_ghz, f13))
    if lba_low <= lbd:
        return np.nan
    # Lminbap >= Lba > Lbd: eq. (61) keeps Lbd; the rest of eqs. (42)-(63) directly
    lbd50 = lbfs + ld50
    lminb0p = lbd50 + (lb0b + ldp - lbd50) * fi if time_pct >= b0 else lb0p + ldp   # eq. (59)
    fj = 1.0 - 0.5 * (1.0 + math.tanh(3.0 * 0.8 * (theta - 0.3) / 0.3))       # eq. (57)
    lbam = lbd + (lminb0p - lbd) * fj                                           # eq. (62)
    lbs = tropo + 20.0 * math.log10(d) + 0.573 * theta                          # eq. (44)
    if lbs - lbam > 40.0:   # troposcatter 40 dB down changes Lbc by < 1e-7 dB
        return max(lb0p, lbam)
    return max(lb0p, -5.0 * math.log10(10.0 ** (-0.2 * lbs) + 10.0 ** (-0.2 * lbam)))   # eq. (63)


@njit(cache=True, fastmath=FASTMATH)
def _p1812_exact(d, h0, hr, hts, hrs, htg, hrg, f_ghz, ae, c5, ld50, ldb, hst, hsr, trans_horizon, horizon, k_t,
                 tangent_r, k_r, m0, xs, hs, xe, he, ne, time_pct, n0, lat_deg):
    """P.1812-6 eq. (69) with ducting's profile terms (rare; see :func:`_p1812_cell`): the Bullington point of
    a line-of-sight path (eq. (81), on the ground profile, the last of equal maxima) and the roughness hm
    between the horizons (eq. (95)), by one pass over the profile; then the reference's own equations."""
    m = m0 + ne
    lam = 0.2998 / f_ghz   # P.1812's own rounding of c, as in eq. (81)
    theta_t, theta_r = _p1812_angles(d, hts, hrs, ae, c5, trans_horizon, horizon, tangent_r)
    if not trans_horizon:
        numax = -1e300
        k_t = 1
        for k in range(1, m + 1):
            x = _profile_x(k, m0, xs, xe)
            h = hs[k] if k <= m0 else he[k - m0 - 1]
            v = _nu(h + c5 * x * (d - x) - (hts * (d - x) + hrs * x) / d, x, d, lam)
            if v >= numax:
                numax = v
                k_t = k
        k_r = k_t
    dlt = _profile_x(k_t, m0, xs, xe) if m >= 1 else 0.5 * d
    dlr = d - _profile_x(k_r, m0, xs, xe) if m >= 1 else 0.5 * d
    hst = min(hst, h0)                                                          # eq. (92)
    hsr = min(hsr, hr)
    hm = 0.0
    if m >= 1:
        slope = (hsr - hst) / d
        hm = -1e300
        for k in range(k_t, k_r + 1):
            x = _profile_x(k, m0, xs, xe)
            h = hs[k] if k <= m0 else he[k - m0 - 1]
            hm = max(hm, h - (hst + slope * x))
    b0 = _p1812.beta0_pct(lat_deg, d, d)                                        # all inland
    lbfs, lb0p, lb0b = _p1812.line_of_sight_db(d, hts, hrs, f_ghz, time_pct, b0, dlt + dlr)
    lba = _p1812.anomalous_loss_db(d, dlt, dlr, 500.0, 500.0, d, hts, hrs, htg + h0 - hst, hrg + hr - hsr, hm,
                                   theta_t, theta_r, f_ghz, time_pct, 0.0, ae, b0)
    theta = 1e3 * d / ae + theta_t + theta_r                                    # eq. (84)
    lbc = _p1812.combine_db(d, theta, f_ghz, time_pct, b0, 0.0, n0, lbfs, lb0p, lb0b, ld50, ldb, lba)[8]
    return max(lb0p, lbc)


@njit(cache=True, fastmath=FASTMATH)
def _bands(f_mhz):
    """Per frequency (MHz): the wavelength (m), f^(1/3) and P.526's ground factor (f in GHz), and the free-space
    loss at 1 km (dB)."""
    band = np.empty((f_mhz.size, 4))
    for b in range(f_mhz.size):
        f_ghz = f_mhz[b] / 1000.0
        band[b, 0] = C_M_S / (f_mhz[b] * 1e6)
        band[b, 1] = f_ghz ** (1.0 / 3.0)
        band[b, 2] = _ground_factor(f_ghz)
        band[b, 3] = FSPL_CONST_DB + 20.0 * math.log10(f_mhz[b])
    return band


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _profile_x(k, m0, xs, xe):
    """Distance of profile point k: on the ray up to m0, then on the tail."""
    return xs[k] if k <= m0 else xe[k - m0 - 1]


@njit(cache=True, fastmath=FASTMATH)
def _sweep_constants(n, step_cells, res_m, f_mhz):
    """(step_km, inv_x, band, f_ghz): the sample step (km), 1 / the distance of sample k (km, shared by every ray),
    :func:`_bands`, and the first frequency in GHz (compiled, as the kernels' own arithmetic)."""
    step_km = step_cells * res_m / 1000.0
    inv_x = np.empty(n + 1)
    for k in range(1, n + 1):   # (a loop: NumPy's broadcasting in Numba took 3 s to compile)
        inv_x[k] = 1.0 / (k * step_km)
    return step_km, inv_x, _bands(f_mhz), f_mhz[0] / 1000.0


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _sweep_rays(lo, hi, heights, classes, class_height_m, r_tx, c_tx, n_rays, n, step_cells, step_km, htg, hrg, f_mhz,
                ae, mode, tail, order, start, row0, col0, ncol, loss, los, time_pct, n0, lat_deg, tab, consts, inv_x,
                band):
    """Rays lo..hi-1 of a sweep (:func:`_ray_cells`). Steps are interleaved by azimuth (:func:`_interleave`), so
    that a chunk of steps holds a block of neighbouring rays in each octant and chunks cost alike; a chunk then
    walks its blocks one after another, each ray beside the last, whose terrain is still in the CPU's caches
    (taken in the steps' order, rays from eight directions in turn, a pass took 7 % longer)."""
    ways = RAY_MULTIPLE if n_rays % RAY_MULTIPLE == 0 else 1
    for w in range(ways):
        for k in range(lo + (w - lo) % ways, hi, ways):   # the chunk's steps that fall in octant w (all: one way)
            j = _interleave(k, ways, n_rays // ways)
            _ray_cells(heights, classes, class_height_m, r_tx, c_tx, j, n_rays, n, step_cells, step_km, htg, hrg,
                       f_mhz, ae, mode, tail, order, start, row0, col0, ncol, loss, los, time_pct, n0, lat_deg, tab,
                       consts, inv_x, band)


def _sweep(rays, with_p1812: bool, one_band: bool, name: str):
    """A sweep over ``rays`` (:func:`_sweep_rays` or a variant), with or without P.1812, one band or several."""

    def sweep(heights, classes, class_height_m, cell_mask, r_tx, c_tx, row0, col0, nrow, ncol, n_rays, n,
              step_cells, res_m, htg, hrg, f_mhz, ae, mode, tail, time_pct=50.0, n0=_p1812.LANG_SON_N0,
              lat_deg=_p1812.LANG_SON_LATITUDE_DEG):
        """Loss (float32 dB, NaN beyond n + 0.5 samples; one layer per frequency of ``f_mhz``, a float64 array) and
        LOS (uint8 1/0/255) for every cell of a window where ``cell_mask`` (uint8 on the terrain's grid, 0: skip;
        shape (1, 1): every cell) is set. Mode ``P1812`` takes one frequency.

        Each cell is evaluated once, by its nearest ray, so the result does not depend
        on the thread count. ``tail``: how many samples next to each receiver are taken
        on its own line (``EXACT_TAIL``); a larger tail is more exact and slower.
        ``classes``: land-cover codes (uint8) on the terrain's grid and ``class_height_m`` the clutter height
        of each code (256 values), read by mode ``P1812`` only;
        ``time_pct``, ``n0`` (N-units) and ``lat_deg`` (the site's latitude, for β0) likewise.
        """
        if f_mhz.size != 1 and (one_band or mode == P1812):
            raise ValueError("this sweep takes one frequency")
        if mode == P1812 and not with_p1812:
            raise ValueError("this sweep has no P.1812")
        order, start = assign_cells(r_tx, c_tx, row0, col0, nrow, ncol, n_rays, n, step_cells, cell_mask)
        loss = np.full((f_mhz.size, nrow, ncol), np.nan, dtype=np.float32)
        los = np.full((nrow, ncol), 255, dtype=np.uint8)
        step_km, inv_x, band, f_ghz = _sweep_constants(n, step_cells, res_m, f_mhz)
        if with_p1812:
            tab = p1812_tables(n if mode == P1812 else 0, step_km, time_pct, lat_deg)
            consts = p1812_constants(f_ghz, time_pct, n0, ae)
        else:
            tab, consts = np.zeros((4, 2)), (0.0,) * 7
        over_chunks(rays, n_rays, heights, classes, class_height_m, r_tx, c_tx, n_rays, n, step_cells, step_km, htg,
                    hrg, f_mhz, ae, mode, tail, order, start, row0, col0, ncol, loss, los, time_pct, n0, lat_deg, tab,
                    consts, inv_x, band)
        return loss, los

    sweep.__name__ = sweep.__qualname__ = name
    return sweep


sweep_cells = _sweep(_sweep_rays, with_p1812=True, one_band=False, name="sweep_cells")


# --- The walk without P.1812, for every other model ------------------------------------------------------------
# The same source compiled a second time with P.1812's per-cell evaluation replaced by stubs and its branches
# compiled out (WITH_P1812), under its own name (Numba caches it apart): the other models' first run then does not
# compile P.1812's equations, about 17 s on a fresh install. footprint.site_footprints picks the variant by mode and
# number of bands.
@njit(cache=True, fastmath=FASTMATH)
def _no_p1812_cell(*args):
    return np.nan


def _variant(fn, qualname: str, **replaced):
    """A copy of the plain function ``fn`` whose globals ``replaced`` are swapped, named ``qualname``."""
    import types

    scope = dict(fn.__globals__)
    scope.update(replaced)
    copy = types.FunctionType(fn.__code__, scope, qualname, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = qualname
    copy.__doc__ = fn.__doc__
    return copy


_ray_cells_bare = njit(cache=True, fastmath=FASTMATH)(_variant(_ray_cells.py_func, "_ray_cells_bare",
                                                                 _p1812_cell=_no_p1812_cell,
                                                                 _p1812_exact=_no_p1812_cell, WITH_P1812=False))
_sweep_rays_bare = njit(cache=True, fastmath=FASTMATH, nogil=True)(_variant(
    _sweep_rays.py_func, "_sweep_rays_bare", _ray_cells=_ray_cells_bare))
sweep_cells_bare = _sweep(_sweep_rays_bare, with_p1812=False, one_band=False, name="sweep_cells_bare")
# ... and once more for one band (the common case): f_mhz's first frequency only
_ray_cells_bare_one = njit(cache=True, fastmath=FASTMATH)(_variant(_ray_cells.py_func, "_ray_cells_bare_one",
                                                                     _p1812_cell=_no_p1812_cell,
                                                                     _p1812_exact=_no_p1812_cell, ONE_BAND=True,
                                                                     WITH_P1812=False))
_sweep_rays_bare_one = njit(cache=True, fastmath=FASTMATH, nogil=True)(_variant(
    _sweep_rays.py_func, "_sweep_rays_bare_one", _ray_cells=_ray_cells_bare_one))
sweep_cells_bare_one = _sweep(_sweep_rays_bare_one, with_p1812=False, one_band=True, name="sweep_cells_bare_one")


def compiled_on_this_machine() -> bool:
    """Whether Numba's cache holds a sweep already (any of the three variants): False on a fresh installation,
    whose first pass compiles the kernels first. True when the cache cannot be told (no note is better than a
    wrong one)."""
    try:
        return any(Path(getattr(kernel, "_cache")._cache_file._index_path).exists()
                   for kernel in (_sweep_rays_bare_one, _sweep_rays_bare, _sweep_rays))
    except Exception:   # (Numba's cache internals)
        return True

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

import numpy as np
from numba import njit, prange

C_M_S = 299_792_458.0
FSPL_CONST_DB = 20.0 * math.log10(4.0 * math.pi * 1e3 * 1e6 / C_M_S)
LAND_EPS = 22.0
LAND_SIGMA = 0.003


@njit(cache=True, inline="always")
def _j(nu):
    if nu <= -0.78:
        return 0.0
    return 6.9 + 20.0 * math.log10(math.sqrt((nu - 0.1) ** 2 + 1.0) + nu - 0.1)


@njit(cache=True)
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
    r0 = int(r)
    c0 = int(c)
    r1 = min(r0 + 1, nrow - 1)
    c1 = min(c0 + 1, ncol - 1)
    fr = r - r0
    fc = c - c0
    top = z[r0, c0] * (1.0 - fc) + z[r0, c1] * fc
    bot = z[r1, c0] * (1.0 - fc) + z[r1, c1] * fc
    return top * (1.0 - fr) + bot * fr


@njit(cache=True)
def _height_gain(y, beta, g_min):
    b = beta * y
    if b > 2.0:
        g = 17.6 * math.sqrt(b - 1.1) - 5.0 * math.log10(b - 1.1) - 8.0
    else:
        g = 20.0 * math.log10(b + 0.1 * b * b * b)
    return max(g, g_min)


@njit(cache=True)
def _ground_factor(f_ghz):
    """((εr − 1)² + (18σ/f)²)^(−1/4) of P.526-15 eq. (64), average land; constant along a ray."""
    return ((LAND_EPS - 1.0) ** 2 + (18.0 * LAND_SIGMA / f_ghz) ** 2) ** -0.25


@njit(cache=True)
def _first_term(d, hte, hre, a, f_ghz, f13, ground):
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


@njit(cache=True)
def _spherical(d, hte, hre, a, f_ghz, lam, f13, ground):
    """Spherical-earth diffraction, P.526-15 §4.5.2; ``f13``, ``ground`` as for _first_term."""
    hte = max(hte, 1e-3)
    hre = max(hre, 1e-3)
    dlos = math.sqrt(2.0 * a) * (math.sqrt(0.001 * hte) + math.sqrt(0.001 * hre))
    if d >= dlos:
        return _first_term(d, hte, hre, a, f_ghz, f13, ground)
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
    return max(0.0, (1.0 - hse / hreq) * _first_term(d, hte, hre, aem, f_ghz, f13, ground))


@njit(cache=True)
def _bull_final(luc, d):
    return luc + (1.0 - math.exp(-luc / 6.0)) * (10.0 + 0.02 * d)


@njit(cache=True)
def _nu(excess, x, d, lam):
    return excess * math.sqrt(0.002 * d / (lam * x * (d - x)))


@njit(cache=True)
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


@njit(cache=True, inline="always")
def _cross(ax, ay, bx, by, cx, cy):
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


@njit(cache=True)
def _hull_push(hull, n, xs, ys, i):
    """Append point i to the upper hull of points sorted by x (monotone chain)."""
    while n >= 2 and _cross(xs[hull[n - 2]], ys[hull[n - 2]], xs[hull[n - 1]], ys[hull[n - 1]], xs[i], ys[i]) >= 0.0:
        n -= 1
    hull[n] = i
    return n + 1


@njit(cache=True)
def _hull_tangent_back(hull, n, xs, ys, qx, qy):
    """max over hull points of (y - qy) / (qx - x), for qx right of all points."""
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi) // 2
        a, b = hull[mid], hull[mid + 1]
        if (ys[b] - qy) * (qx - xs[a]) >= (ys[a] - qy) * (qx - xs[b]):
            lo = mid + 1
        else:
            hi = mid
    i = hull[lo]
    return (ys[i] - qy) / (qx - xs[i]), lo


@njit(cache=True)
def _hull_support(hull, n, xs, ys, s):
    """Hull position maximising y - s*x (edge slopes decrease along an upper hull)."""
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi) // 2
        a, b = hull[mid], hull[mid + 1]
        if ys[b] - ys[a] >= s * (xs[b] - xs[a]):
            lo = mid + 1
        else:
            hi = mid
    return lo


RAY_MULTIPLE = 8  # rays fall on the axes and the diagonals, where cells lie exactly on a ray
# samples before each receiver taken on its own straight line, not the ray's (benchmarks/RESULTS.md):
EXACT_TAIL = 16   # for loss: >= 98% of cells within 1 dB of the reference on rough ground
LOS_TAIL = 2      # for the LOS flag alone, which the far profile hardly moves (99.8% agreement)


@njit(cache=True, inline="always")
def _last_sample(length):
    """Index of the last intermediate point of a profile ``length`` samples long, as in
    :func:`phusong.propagation.reference.profile`: samples at 0, 1, ... below ``length``,
    less the last when it falls within half a step of the receiver."""
    m = max(int(math.ceil(length)) - 1, 0)
    if m > 0 and length - m < 0.5:
        m -= 1
    return m


@njit(cache=True, parallel=True)
def assign_cells(r_tx, c_tx, row0, col0, nrow, ncol, n_rays, n, step_cells):
    """Group the window's cells by their nearest ray, for ``sweep_cells``.

    Cells beyond n + 0.5 samples belong to no ray. Returns (order, start): ``order``
    lists cell indices (row-major in the window) ray by ray; ray j's span
    ``order[start[j]:start[j+1]]``.
    """
    ray = np.empty(nrow * ncol, dtype=np.int32)
    two_pi = 2.0 * math.pi
    for i in prange(nrow):
        dy = r_tx - (row0 + i)  # north positive
        for jj in range(ncol):
            dx = (col0 + jj) - c_tx
            if math.sqrt(dx * dx + dy * dy) / step_cells > n + 0.5:
                ray[i * ncol + jj] = -1
                continue
            az = math.atan2(dx, dy)
            if az < 0.0:
                az += two_pi
            ray[i * ncol + jj] = int(az / two_pi * n_rays + 0.5) % n_rays
    return _counting_sort(ray, n_rays)


@njit(cache=True)
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


@njit(cache=True)
def _ray_cells(heights, r_tx, c_tx, j, n_rays, n, step_cells, step_km, htg, hrg, f_mhz, ae, mode, tail,
               order, start, row0, col0, ncol, loss, los):
    """Walk ray ``j`` outward and evaluate each of its cells when the ray reaches the cell's sample m0.

    A cell's profile is the ray's samples 1..m0 (O(1) amortised state updates per
    sample, shared by all the ray's cells), then its own straight line's samples
    m0+1..m and the cell centre as the receiver. The samples that matter most, next
    to the receiver, are therefore exact; the ray part is at most half a ray spacing
    off the line. mode 0: delta-Bullington; 1: Bullington on the actual profile;
    2: LOS only (loss = free space). Cells whose profile leaves the DEM's data stay NaN/255.
    """
    lam = C_M_S / (f_mhz * 1e6)
    f_ghz = f_mhz / 1000.0
    f13 = f_ghz ** (1.0 / 3.0)
    ground = _ground_factor(f_ghz)
    ce = 1.0 / ae
    c5 = 500.0 * ce
    az = 2.0 * math.pi * j / n_rays
    dr = -math.cos(az) * step_cells  # rows grow southward
    dc = math.sin(az) * step_cells
    xs = np.empty(n + 1)
    hs = np.empty(n + 1)
    gs = np.empty(n + 1)
    hull_g = np.empty(n + 1, dtype=np.int64)
    hull_h = np.empty(n + 1, dtype=np.int64)
    xe = np.empty(tail + 2)
    he = np.empty(tail + 2)
    ge = np.empty(tail + 2)
    inv_x = np.empty(n + 1)
    inv_x[1:] = 1.0 / (np.arange(1, n + 1) * step_km)
    ng = 0
    nh = 0
    h0 = _bilinear(heights, r_tx, c_tx)
    hts = h0 + htg
    xs[0] = 0.0
    hs[0] = h0
    gs[0] = h0
    v1 = 0.0  # least-squares sums (P.452-17 eqs. 161-162) over points 0..m0
    v2 = 0.0
    max_curved_slope = -1e300  # max (g_i - hts)/x_i over the ray's intermediate points
    max_plain_slope = -1e300   # max (h_i - hts)/x_i
    cells = order[start[j]:start[j + 1]]
    n_cells = cells.size
    rows = np.empty(n_cells, dtype=np.int64)
    cols = np.empty(n_cells, dtype=np.int64)
    lengths = np.empty(n_cells)  # in samples
    first = np.empty(n_cells, dtype=np.int64)  # m0 of each cell: where its own line takes over
    for p in range(n_cells):
        i = cells[p] // ncol
        rows[p] = i
        cols[p] = cells[p] - i * ncol
        ur = row0 + i - r_tx
        uc = col0 + cols[p] - c_tx
        lengths[p] = math.sqrt(ur * ur + uc * uc) / step_cells
        first[p] = min(max(_last_sample(lengths[p]) - tail, 0), n)
    by_m0, m0_start = _counting_sort(first, n + 1)
    for m0 in range(n + 1):
        if m0 > 0:
            h = _sample(heights, r_tx + dr * m0, c_tx + dc * m0)
            if math.isnan(h):
                return  # off the DEM or its data: this ray's remaining cells stay NaN
            x = m0 * step_km
            xs[m0] = x
            hs[m0] = h
            gs[m0] = h - c5 * x * x
            v1, v2 = _lsq_add(v1, v2, xs[m0 - 1], hs[m0 - 1], x, h)
            if mode != 2:
                ng = _hull_push(hull_g, ng, xs, gs, m0)
                nh = _hull_push(hull_h, nh, xs, hs, m0)
            max_curved_slope = max(max_curved_slope, (gs[m0] - hts) / x)
            max_plain_slope = max(max_plain_slope, (hs[m0] - hts) / x)
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
            ne = 0
            curved = max_curved_slope
            plain = max_plain_slope
            for k in range(m0 + 1, m + 1):  # the cell's own line near the receiver
                h = _bilinear(heights, r_tx + sr * k, c_tx + sc * k)  # inside: between site and cell
                if math.isnan(h):
                    break
                x = k * step_km
                xe[ne] = x
                he[ne] = h
                ge[ne] = h - c5 * x * x
                curved = max(curved, (ge[ne] - hts) * inv_x[k])
                plain = max(plain, (h - hts) * inv_x[k])
                ne += 1
            if ne < m - m0:  # the cell's own line crosses missing data: no value
                continue
            value, visible = _receiver(length * step_km, hr, m0, xs, hs, gs, hull_g, ng, hull_h, nh, xe, he, ge, ne,
                                       v1, v2, curved, plain, h0, hts, hrg, f_mhz, lam, f_ghz,
                                       f13, ground, ae, c5, step_km, mode)
            loss[i, jj] = value
            los[i, jj] = visible


@njit(cache=True, inline="always")
def _sample(heights, r, c):
    """Bilinear height; NaN off the DEM (more than half a cell beyond its edge cells)."""
    nrow, ncol = heights.shape
    if r < -0.5 or c < -0.5 or r > nrow - 0.5 or c > ncol - 0.5:
        return np.nan
    return _bilinear(heights, r, c)


@njit(cache=True, inline="always")
def _lsq_add(v1, v2, xp, hp, x, h):
    """Add the segment (xp, hp)-(x, h) to the least-squares sums of P.452-17 eqs. (161)-(162)."""
    return (v1 + (x - xp) * (h + hp),
            v2 + (x - xp) * (h * (2.0 * x + xp) + hp * (x + 2.0 * xp)))


@njit(cache=True, inline="always")
def _receiver(d, hr, m0, xs, hs, gs, hull_g, ng, hull_h, nh, xe, he, ge, ne, v1, v2, max_curved_slope,
              max_plain_slope, h0, hts, hrg, f_mhz, lam, f_ghz, f13, ground, ae, c5, step_km, mode):
    """(loss dB, LOS 1/0) of the profile: ray points 0..m0, then the tail (xe, he)[:ne], then the receiver (d, hr).

    Every profile query the model makes is a maximum over the intermediate points,
    so it is the larger of the ray part's (hull queries) and the tail's (direct).
    ``ge`` = he - c5 xe^2; the two transmitter-side slopes already include the tail.
    ``v1``, ``v2``: least-squares sums over points 0..m0.
    """
    hrs = hr + hrg
    dfs = math.sqrt(d * d + ((hts - hrs) / 1000.0) ** 2)
    fspl = FSPL_CONST_DB + 20.0 * math.log10(f_mhz) + 20.0 * math.log10(max(dfs, 1e-6))
    m = m0 + ne
    if m < 1 or d <= 0.0:
        return fspl, 1
    # --- Bullington on the actual profile (P.526-15 §4.5.1)
    stim = max_curved_slope + c5 * d
    s_tr = (hrs - hts) / d
    visible = 1 if stim < s_tr else 0
    if mode == 2:
        return fspl, visible
    # the tail's share of every maximum, and its segments of the least-squares sums, in one pass
    qg = c5 * d * d - hrs
    srim = -1e300   # receiver-side slope, curved profile
    a_r = -1e300    # receiver-side slope, plain profile
    hobs = -1e300   # highest obstacle above the direct line (plus hts)
    xp = xs[m0]
    hp = hs[m0]
    for e in range(ne):
        x = xe[e]
        h = he[e]
        inv = 1.0 / (d - x)
        srim = max(srim, (ge[e] + qg) * inv)
        a_r = max(a_r, (h - hrs) * inv)
        hobs = max(hobs, h - s_tr * x)
        v1, v2 = _lsq_add(v1, v2, xp, hp, x, h)
        xp = x
        hp = h
    v1, v2 = _lsq_add(v1, v2, xp, hp, d, hr)
    hobs -= hts
    if visible:
        numax = -1e300
        if m0 > 0:
            slope = s_tr - c5 * d  # excess_i = g_i - hts - slope * x_i
            pos = _hull_support(hull_g, ng, xs, gs, slope)
            for p in range(max(0, pos - 2), min(ng, pos + 3)):
                i = hull_g[p]
                numax = max(numax, _nu(gs[i] + c5 * xs[i] * d - (hts * (d - xs[i]) + hrs * xs[i]) / d, xs[i], d, lam))
        for e in range(ne):
            x = xe[e]
            numax = max(numax, _nu(he[e] + c5 * x * (d - x) - (hts * (d - x) + hrs * x) / d, x, d, lam))
        lba = _bull_final(_j(numax), d)
    else:
        if m0 > 0:
            srim = max(srim, _hull_tangent_back(hull_g, ng, xs, gs, d, -qg)[0])
        srim -= c5 * d
        db = (hrs - hts + srim * d) / (stim + srim)
        nub = _nu(hts + stim * db - (hts * (d - db) + hrs * db) / d, db, d, lam)
        lba = _bull_final(_j(nub), d)
    if mode == 1:  # Bullington only (no smooth-earth correction)
        return fspl + lba, visible
    # --- smooth-earth heights with the obstacle correction (P.452-17 §5.1.6.3)
    hst = (2.0 * v1 * d - v2) / (d * d)
    hsr = (v2 - v1 * d) / (d * d)
    if m0 > 0:
        i = hull_h[_hull_support(hull_h, nh, xs, hs, s_tr)]
        hobs = max(hobs, hs[i] - hts - s_tr * xs[i])
    if hobs > 0.0:
        a_t = max_plain_slope - s_tr
        if m0 > 0:
            a_r = max(a_r, _hull_tangent_back(hull_h, nh, xs, hs, d, hrs)[0])
        a_r += s_tr
        hst -= hobs * a_t / (a_t + a_r)
        hsr -= hobs * a_r / (a_t + a_r)
    hst = min(hst, h0)
    hsr = min(hsr, hr)
    hts_p = hts - hst
    hrs_p = hrs - hsr
    lsph = _spherical(d, hts_p, hrs_p, ae, f_ghz, lam, f13, ground)
    if lsph > 0.0:  # Lbs >= 0, so with Lsph = 0 the correction max(Lsph - Lbs, 0) is 0
        lsph = max(lsph - _bullington_smooth(m + 1, step_km, d, hts_p, hrs_p, 1.0 / ae, lam), 0.0)
    return fspl + lba + lsph, visible


@njit(cache=True, parallel=True)
def sweep_cells(heights, r_tx, c_tx, row0, col0, nrow, ncol, n_rays, n, step_cells, res_m, htg, hrg, f_mhz, ae,
                mode, tail):
    """Loss (float32 dB, NaN beyond n + 0.5 samples) and LOS (uint8 1/0/255) for every cell of a window.

    Each cell is evaluated once, by its nearest ray, so the result does not depend
    on the thread count. ``tail``: how many samples next to each receiver are taken
    on its own line (``EXACT_TAIL``); a larger tail is more exact and slower.
    """
    order, start = assign_cells(r_tx, c_tx, row0, col0, nrow, ncol, n_rays, n, step_cells)
    loss = np.full((nrow, ncol), np.nan, dtype=np.float32)
    los = np.full((nrow, ncol), 255, dtype=np.uint8)
    step_km = step_cells * res_m / 1000.0
    for j in prange(n_rays):
        _ray_cells(heights, r_tx, c_tx, j, n_rays, n, step_cells, step_km, htg, hrg, f_mhz, ae, mode, tail,
                   order, start, row0, col0, ncol, loss, los)
    return loss, los

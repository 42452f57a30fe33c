"""Numba kernels: a radial sweep computing delta-Bullington loss for a whole raster.

Private module. Public entry points are in :mod:`phusong.propagation.footprint`;
the plain NumPy reference is :mod:`phusong.propagation.reference`.

Per ray, samples one cell apart are visited outward from the site. Each sample is
the receiver of a path whose profile is the ray so far, and the model needs only:

* the transmitter-side horizon: a running maximum of slopes (O(1));
* the receiver-side horizon, the dominant obstacle and P.452's obstacle
  correction: tangent and support queries on two upper convex hulls of the
  profile so far (earth-curvature-corrected and plain), by binary search (O(log n));
* the least-squares smooth-earth line: two running sums (O(1)).

So a sample costs O(log n) instead of the O(n) of re-walking its profile.
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


MAX_STRIDE = 64  # n_rays is a multiple of this (see footprint.site_footprint)


@njit(cache=True, inline="always")
def ray_stride(k, n_rays, step_cells):
    """Every how many rays the model is evaluated at sample k: the largest power of two keeping the
    evaluated rays at most one cell apart at that distance (so never sparser than at the radius)."""
    room = n_rays / (2.0 * math.pi * max(k, 1) * step_cells)
    m = 1
    while m * 2 <= room and m * 2 <= MAX_STRIDE:
        m *= 2
    return m


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


@njit(cache=True)
def _ray(heights, r_tx, c_tx, dr, dc, n, step_km, htg, hrg, f_mhz, ae, mode, loss, los, j, n_rays, step_cells):
    """Walk one ray: fill loss[1..n] (dB) and los[1..n]; NaN/255 where the ray leaves the DEM.

    mode 0: delta-Bullington; 1: Bullington on the actual profile; 2: LOS only (loss = free space).
    The loss model runs only where this ray ``j`` is one of the rays evaluated at that distance
    (``ray_stride``); elsewhere loss is NaN. The profile state and LOS are kept for every sample.
    """
    nrow, ncol = heights.shape
    lam = C_M_S / (f_mhz * 1e6)
    f_ghz = f_mhz / 1000.0
    f13 = f_ghz ** (1.0 / 3.0)
    ground = _ground_factor(f_ghz)
    ce = 1.0 / ae
    c5 = 500.0 * ce
    xs = np.empty(n + 1)
    hs = np.empty(n + 1)
    gs = np.empty(n + 1)
    hull_g = np.empty(n + 1, dtype=np.int64)
    hull_h = np.empty(n + 1, dtype=np.int64)
    ng = 0
    nh = 0
    h0 = _bilinear(heights, r_tx, c_tx)
    hts = h0 + htg
    xs[0] = 0.0
    hs[0] = h0
    gs[0] = h0
    v1 = 0.0
    v2 = 0.0
    max_curved_slope = -1e300   # max (g_i - hts)/x_i over intermediate points
    max_plain_slope = -1e300    # max (h_i - hts)/x_i
    loss[0] = np.nan
    los[0] = 1
    for k in range(1, n + 1):
        r = r_tx + dr * k
        c = c_tx + dc * k
        if r < -0.5 or c < -0.5 or r > nrow - 0.5 or c > ncol - 0.5:
            for j in range(k, n + 1):
                loss[j] = np.nan
                los[j] = 255
            return
        x = k * step_km
        h = _bilinear(heights, r, c)
        if math.isnan(h):  # off the DEM's data (a partial DEM): the ray ends here
            for j in range(k, n + 1):
                loss[j] = np.nan
                los[j] = 255
            return
        xs[k] = x
        hs[k] = h
        gs[k] = h - c5 * x * x
        # running sums of the least-squares line (P.452 eqs. 161-162), points 0..k
        xp = xs[k - 1]
        hp = hs[k - 1]
        v1 += (x - xp) * (h + hp)
        v2 += (x - xp) * (h * (2.0 * x + xp) + hp * (x + 2.0 * xp))
        if k >= 2:  # point k-1 becomes intermediate
            i = k - 1
            if mode != 2:
                ng = _hull_push(hull_g, ng, xs, gs, i)
                nh = _hull_push(hull_h, nh, xs, hs, i)
            max_curved_slope = max(max_curved_slope, (gs[i] - hts) / xs[i])
            max_plain_slope = max(max_plain_slope, (hs[i] - hts) / xs[i])
        d = x
        hrs = h + hrg
        dfs = math.sqrt(d * d + ((hts - hrs) / 1000.0) ** 2)
        fspl = FSPL_CONST_DB + 20.0 * math.log10(f_mhz) + 20.0 * math.log10(dfs)
        if k < 2:
            los[k] = 1
            loss[k] = fspl
            continue
        # --- Bullington on the actual profile (P.526-15 §4.5.1)
        stim = max_curved_slope + c5 * d
        s_tr = (hrs - hts) / d
        if mode == 2:  # line of sight only
            los[k] = 1 if stim < s_tr else 0
            loss[k] = fspl
            continue
        if j % ray_stride(k, n_rays, step_cells) != 0:
            los[k] = 1 if stim < s_tr else 0
            loss[k] = np.nan
            continue
        if stim < s_tr:
            los[k] = 1
            slope = s_tr - c5 * d  # excess_i = g_i - hts - slope * x_i
            pos = _hull_support(hull_g, ng, xs, gs, slope)
            numax = -1e300
            for p in range(max(0, pos - 2), min(ng, pos + 3)):
                i = hull_g[p]
                numax = max(numax, _nu(gs[i] + c5 * xs[i] * d - (hts * (d - xs[i]) + hrs * xs[i]) / d, xs[i], d, lam))
            lba = _bull_final(_j(numax), d)
        else:
            los[k] = 0
            srim, _ = _hull_tangent_back(hull_g, ng, xs, gs, d, hrs - c5 * d * d)
            srim -= c5 * d
            db = (hrs - hts + srim * d) / (stim + srim)
            nub = _nu(hts + stim * db - (hts * (d - db) + hrs * db) / d, db, d, lam)
            lba = _bull_final(_j(nub), d)
        if mode == 1:  # Bullington only (no smooth-earth correction)
            loss[k] = fspl + lba
            continue
        # --- smooth-earth heights with the obstacle correction (P.452-17 §5.1.6.3)
        hst = (2.0 * v1 * d - v2) / (d * d)
        hsr = (v2 - v1 * d) / (d * d)
        s2 = (hrs - hts) / d
        pos = _hull_support(hull_h, nh, xs, hs, s2)
        i = hull_h[pos]
        hobs = hs[i] - hts - s2 * xs[i]
        if hobs > 0.0:
            a_t = max_plain_slope - s2
            a_r, _ = _hull_tangent_back(hull_h, nh, xs, hs, d, hrs)
            a_r += s2
            hst -= hobs * a_t / (a_t + a_r)
            hsr -= hobs * a_r / (a_t + a_r)
        hst = min(hst, h0)
        hsr = min(hsr, h)
        hts_p = hts - hst
        hrs_p = hrs - hsr
        lsph = _spherical(d, hts_p, hrs_p, ae, f_ghz, lam, f13, ground)
        if lsph > 0.0:  # Lbs >= 0, so with Lsph = 0 the correction max(Lsph - Lbs, 0) is 0
            lsph = max(lsph - _bullington_smooth(k, step_km, d, hts_p, hrs_p, ce, lam), 0.0)
        loss[k] = fspl + lba + lsph


@njit(cache=True, parallel=True)
def radial_sweep(heights, r_tx, c_tx, n_rays, n, step_cells, res_m, htg, hrg, f_mhz, ae, mode):
    """Loss (float32 dB) and LOS (uint8) on a polar grid: [ray, sample]; sample k at k*step."""
    loss = np.empty((n_rays, n + 1), dtype=np.float32)
    los = np.empty((n_rays, n + 1), dtype=np.uint8)
    step_km = step_cells * res_m / 1000.0
    for j in prange(n_rays):
        az = 2.0 * math.pi * j / n_rays
        dr = -math.cos(az) * step_cells   # rows grow southward
        dc = math.sin(az) * step_cells
        lrow = np.empty(n + 1)
        vrow = np.empty(n + 1, dtype=np.uint8)
        _ray(heights, r_tx, c_tx, dr, dc, n, step_km, htg, hrg, f_mhz, ae, mode, lrow, vrow, j, n_rays, step_cells)
        for k in range(n + 1):
            loss[j, k] = lrow[k]
            los[j, k] = vrow[k]
    return loss, los


@njit(cache=True, parallel=True)
def polar_to_raster(loss_polar, los_polar, r_tx, c_tx, row0, col0, nrow, ncol, step_cells, max_k, los_only):
    """Every cell of a window from the polar grid; NaN/255 beyond ``max_k`` samples.

    Loss is interpolated bilinearly in (azimuth, distance) between the four
    surrounding evaluated samples (NaN beyond the DEM are skipped); LOS takes the
    nearest sample. ``los_only``: every ray holds a (free-space) loss.
    """
    n_rays = loss_polar.shape[0]
    out = np.empty((nrow, ncol), dtype=np.float32)
    vis = np.empty((nrow, ncol), dtype=np.uint8)
    two_pi = 2.0 * math.pi
    strides = np.ones(max_k + 2, dtype=np.int64)
    if not los_only:
        for k in range(max_k + 2):
            strides[k] = ray_stride(k, n_rays, step_cells)
    for i in prange(nrow):
        dy = -((row0 + i) - r_tx)  # north positive
        for jj in range(ncol):
            dx = (col0 + jj) - c_tx
            dist = math.sqrt(dx * dx + dy * dy) / step_cells
            if dist > max_k + 0.5:
                out[i, jj] = np.nan
                vis[i, jj] = 255
                continue
            az = math.atan2(dx, dy)
            if az < 0.0:
                az += two_pi
            a = az / two_pi * n_rays
            dist = min(max(dist, 1.0), float(max_k))
            k0 = min(int(dist), max_k - 1)
            fk = dist - k0
            acc = 0.0
            wsum = 0.0
            for kk, wk in ((k0, 1.0 - fk), (k0 + 1, fk)):
                if wk <= 0.0:
                    continue
                m = strides[kk]
                base = int(a / m) * m
                fa = (a - base) / m
                for rr, wr in ((base % n_rays, 1.0 - fa), ((base + m) % n_rays, fa)):
                    v = loss_polar[rr, kk]
                    w = wr * wk
                    if w > 0.0 and not math.isnan(v):
                        acc += w * v
                        wsum += w
            out[i, jj] = acc / wsum if wsum > 0.0 else np.nan
            kn = int(dist + 0.5)
            vis[i, jj] = los_polar[int(a + 0.5) % n_rays, kn]
    return out, vis

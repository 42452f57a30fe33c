"""Point-to-area prediction — Recommendation ITU-R P.1812-6 (09/2021), Annex 1, on one terrain profile.

The whole method of §4: line of sight with multipath/focusing (§4.2), delta-Bullington diffraction
over the profile with representative clutter heights added to every point except the two terminals
(§3.2, §4.3), troposcatter (§4.4), ducting/layer reflection (§4.5), their combination (§4.6), and
location variability (§4.8, §4.10). Profile analysis follows Attachment 1 (§5), the inverse normal
function Attachment 2. Terminal surroundings enter as §3.2 prescribes for this version: the clutter
heights at the profile points next to each terminal obstruct it, so a receiver at 1.5 m among 15 m
trees is diffracted over them. Building entry loss (§4.9) is not applied here; see
:mod:`phusong.propagation.p2109`.

Validity (§1): 30 MHz–6 GHz, paths 0.25–3,000 km, terminals 1–3,000 m above ground, time
percentages 1–50 %, location percentages 1–99 %. Outside them a :class:`ValidityWarning` is given
and the result is extrapolated. Distances in km, heights in m above sea level unless named
``*_height_m`` (above ground), frequency in MHz like the rest of phusong.

Checked against every validation case of the ITU-R SG3 reference implementation (Py1812) in
``../shared/reference/p1812_eeveetza``: the basic transmission loss and the intermediate values of
its logs agree within 2e-4 dB (``tests/test_p1812.py``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .p526 import bullington_loss_db, least_squares_ends, smooth_earth_heights, spherical_earth_loss_db
from .validity import check_range

MODEL = "ITU-R P.1812-6"
EARTH_RADIUS_KM = 6371.0
# Lạng Sơn's radio climate at 106.76 °E 21.85 °N (Lạng Sơn city), read from the ITU-R digital maps of ΔN
# and N0 (1.5° grid, P.452-16 Figs. 1-2 as data; P.1812-6 §3.4-3.5 uses the same DN50/N050 maps) by bilinear
# interpolation with pycraf 2.1's pathprof.deltaN_N0_from_map: 48.31 N-units/km and 368.51 N-units. Across
# the province (106.0-107.4 °E, 21.3-22.5 °N) the maps vary by a few units. Elsewhere, pass your own values.
LANG_SON_DELTA_N = 48.3
LANG_SON_N0 = 368.5
LANG_SON_LATITUDE_DEG = 21.85
# Radio-climatic zones of §3.6 / Table 3: the codes the profile's ``zone`` array uses.
ZONE_SEA, ZONE_COASTAL, ZONE_INLAND = 1, 3, 4


# The scalar equations below (JITABLE) use ``math`` only: Python calls them as they are, and the map kernel
# (``_kernels``) registers these same functions with Numba instead of keeping a second copy.

def _normal_tail(y):
    t = math.sqrt(-2.0 * math.log(y))
    return t - ((0.010328 * t + 0.802853) * t + 2.515516698) / (((0.001308 * t + 0.189269) * t + 1.432788) * t + 1.0)


def inverse_normal(x):
    """I(x): the value exceeded with probability x by a standard normal variable, Attachment 2
    eqs. (96)–(97) (|error| < 0.00054), for 1e-6 ≤ x ≤ 0.999999."""
    x = min(max(x, 1e-6), 0.999999)
    return _normal_tail(x) if x <= 0.5 else -_normal_tail(1.0 - x)


def _longest_run_km(d: np.ndarray, inside: np.ndarray) -> tuple[float, float]:
    """(longest, total) length of the stretches where ``inside`` holds, each stretch extended by half
    a sample interval at an end that meets another zone (the convention of the SG3 implementation)."""
    flags = np.concatenate(([0], inside.astype(np.int8), [0]))
    starts = np.flatnonzero(np.diff(flags) == 1)
    stops = np.flatnonzero(np.diff(flags) == -1) - 1
    lengths = d[stops] - d[starts]
    lengths = lengths + np.where(stops < d.size - 1, 0.5 * (d[np.minimum(stops + 1, d.size - 1)] - d[stops]), 0.0)
    lengths = lengths + np.where(starts > 0, 0.5 * (d[starts] - d[np.maximum(starts - 1, 0)]), 0.0)
    if lengths.size == 0:
        return 0.0, 0.0
    return float(lengths.max()), float(lengths.sum())


def beta0_pct(latitude_deg, land_km, inland_km):
    """β0 (%), the time percentage for which refractivity lapse rates exceeding 100 N-units/km can be
    expected in the first 100 m of the atmosphere, §3.5 eqs. (2)–(5)."""
    tau = 1.0 - math.exp(-4.12e-4 * inland_km**2.41)
    mu1 = min((10.0 ** (-land_km / (16.0 - 6.6 * tau)) + 10.0 ** (-5.0 * (0.496 + 0.354 * tau))) ** 0.2, 1.0)
    lat = abs(latitude_deg)
    if lat <= 70.0:
        return 10.0 ** (-0.015 * lat + 1.67) * mu1 * mu1 ** (-0.935 + 0.0176 * lat)
    return 4.17 * mu1 * mu1**0.3


def location_sigma_db(frequency_mhz: float, rx_height_m: float, clutter_height_m: float, area_width_m: float) -> float:
    """Location-variability standard deviation σL (dB), §4.10 eq. (72)–(73): (0.024 f + 0.52)·wa^0.28
    (f in GHz, wa the width of the square the prediction represents, m), scaled by uh: 1 below the
    clutter, 0 ten metres above it, linear between."""
    sigma = (0.024 * frequency_mhz / 1000.0 + 0.52) * area_width_m**0.28
    clearance = rx_height_m - clutter_height_m
    return float(sigma * min(max(1.0 - clearance / 10.0, 0.0), 1.0))


def median_earth_radius_km(delta_n: float) -> float:
    """ae, the median effective Earth radius (km) for a refractivity lapse rate ΔN, eqs. (6)–(7a)."""
    return EARTH_RADIUS_KM * 157.0 / (157.0 - delta_n)


def ground_plus_clutter(h_m, clutter_m):
    """The obstructing profile of §3.2: ground plus representative clutter at the intermediate points, ground
    alone at the two terminals (a copy; ``clutter_m`` None: the ground)."""
    h = np.asarray(h_m, dtype=np.float64)
    if clutter_m is None:
        return h.copy()
    g = h + np.asarray(clutter_m, dtype=np.float64)
    g[0], g[-1] = h[0], h[-1]
    return g


def delta_bullington_p1812(d, g, hts, hrs, hstd, hsrd, frequency_mhz, radius_km, sea_fraction, vertical):
    """(Ld, Lbulla, Lbulls, Ldsph) of §4.3.4 eq. (39) for effective radius ``radius_km``: Bullington
    over the profile ``g`` (ground plus clutter), the smooth earth through ``hstd``/``hsrd`` (eq. (37))."""
    lbulla = bullington_loss_db(d, g, hts, hrs, frequency_mhz, radius_km)
    lbulls = bullington_loss_db(d, np.zeros_like(g), hts - hstd, hrs - hsrd, frequency_mhz, radius_km)
    ldsph = spherical_earth_loss_db(d[-1] - d[0], hts - hstd, hrs - hsrd, frequency_mhz, radius_km,
                                    vertical=vertical, sea_fraction=sea_fraction)
    return lbulla + max(ldsph - lbulls, 0.0), lbulla, lbulls, ldsph


JITABLE = ("_normal_tail", "inverse_normal", "beta0_pct", "line_of_sight_db", "combine_db", "minimum_anomalous_db",
           "_site_shielding_db", "_sea_coupling_db", "anomalous_loss_db", "time_variability_db")


@dataclass(frozen=True)
class P1812Climate:
    """The radio climate and time percentage of a P.1812 map: time % (1–50), ΔN (N-units/km, the lapse rate
    through the lowest km, §3.4) and N0 (N-units, sea-level surface refractivity, for troposcatter). Defaults:
    Lạng Sơn at 50 % of time. Map paths are taken as inland (zone 4) throughout."""

    time_pct: float = 50.0
    delta_n: float = LANG_SON_DELTA_N
    n0: float = LANG_SON_N0

    def __post_init__(self):
        if not 0.0 < self.time_pct <= 50.0:
            raise ValueError(f"P.1812 time percentage must lie in (0, 50], got {self.time_pct:g}")
        if not 0.0 <= self.delta_n < 157.0:
            raise ValueError(f"ΔN must lie in [0, 157) N-units/km, got {self.delta_n:g}")

    @property
    def ae_km(self) -> float:
        """Median effective Earth radius, eqs. (6)–(7a)."""
        return median_earth_radius_km(self.delta_n)

    def check(self, frequency_mhz, tx_height_m, rx_height_m) -> None:
        """Validity warnings (§1) for a map's frequency, antenna heights and time percentage."""
        check_range(MODEL, "frequency", frequency_mhz, 30.0, 6000.0, "MHz")
        check_range(MODEL, "antenna height", [tx_height_m, rx_height_m], 1.0, 3000.0, "m")
        check_range(MODEL, "time percentage", self.time_pct, 1.0, 50.0, "%")


@dataclass(frozen=True)
class P1812Result:
    """Basic transmission loss ``loss_db`` (Lb, eq. (69)) and the intermediate values of §4, in dB unless
    named otherwise. The names follow the Recommendation's symbols."""

    loss_db: float
    field_strength_dbuv_m: float       # Ep for 1 kW e.r.p., eq. (70)
    Lbfs: float
    Lb0p: float
    Lb0b: float
    Lbulla: float
    Lbulls: float
    Ldsph: float
    Ld50: float
    Ldb: float
    Ldp: float
    Lbd50: float
    Lbd: float
    Lminb0p: float
    Lba: float
    Lminbap: float
    Lbda: float
    Lbam: float
    Lbs: float
    Lbc: float
    Lloc: float
    distance_km: float
    dlt_km: float
    dlr_km: float
    theta_t_mrad: float
    theta_r_mrad: float
    theta_mrad: float
    hte_m: float
    hre_m: float
    hm_m: float
    hstd_m: float
    hsrd_m: float
    sea_fraction: float
    beta0_pct: float
    ae_km: float
    trans_horizon: bool

    def as_dict(self) -> dict:
        return asdict(self)


def p1812_loss(d_km, h_m, tx_height_m: float, rx_height_m: float, frequency_mhz: float, *,
               clutter_m=None, zone=None, time_pct: float = 50.0, location_pct: float = 50.0,
               location_sigma_db: float = 0.0, vertical: bool = False, delta_n: float = LANG_SON_DELTA_N,
               n0: float = LANG_SON_N0, centre_latitude_deg: float = LANG_SON_LATITUDE_DEG,
               tx_coast_km: float = 500.0, rx_coast_km: float = 500.0) -> P1812Result:
    """Basic transmission loss (dB) not exceeded for ``time_pct`` % of time and ``location_pct`` % of
    locations, ITU-R P.1812-6 §4 eq. (69), over one profile.

    ``d_km``/``h_m``: distances from the transmitter (first point 0) and ground heights (m asl);
    ``clutter_m``: representative clutter height at each point (§3.2; ignored at the terminals);
    ``zone``: radio-climatic zone per point (1 sea, 3 coastal land, 4 inland; default inland);
    ``delta_n``/``n0``: ΔN (N-units/km) and N0 (N-units) at the path centre, whose latitude is
    ``centre_latitude_deg``; ``tx_coast_km``/``rx_coast_km``: each terminal's distance from the coast
    (0 at sea). ``location_sigma_db`` is σL (see :func:`location_sigma_db`); with the default 0 the
    result is the median over locations.
    """
    d = np.asarray(d_km, dtype=np.float64)
    h = np.asarray(h_m, dtype=np.float64)
    if d.ndim != 1 or d.shape != h.shape or d.size < 3:
        # the SG3 implementation asks for 5; one intermediate point is enough for every equation
        raise ValueError("a P.1812 profile needs at least 3 points, distances and heights of one length")
    if d[0] != 0.0 or np.any(np.diff(d) <= 0.0):
        raise ValueError("profile distances must start at 0 and increase")
    if not 0.0 < location_pct < 100.0:
        raise ValueError("location percentage must lie strictly between 0 and 100")
    if not 0.0 < time_pct <= 50.0:
        raise ValueError("time percentage must lie in (0, 50]")
    clutter = np.zeros_like(h) if clutter_m is None else np.asarray(clutter_m, dtype=np.float64)
    zones = np.full(h.shape, ZONE_INLAND) if zone is None else np.asarray(zone)
    f_ghz = frequency_mhz / 1000.0
    dtot = float(d[-1])
    check_range(MODEL, "frequency", frequency_mhz, 30.0, 6000.0, "MHz")
    check_range(MODEL, "distance", dtot, 0.25, 3000.0, "km")
    check_range(MODEL, "antenna height", [tx_height_m, rx_height_m], 1.0, 3000.0, "m")
    check_range(MODEL, "time percentage", time_pct, 1.0, 50.0, "%")
    check_range(MODEL, "location percentage", location_pct, 1.0, 99.0, "%")
    if zones[0] == ZONE_SEA:
        tx_coast_km = 0.0
    if zones[-1] == ZONE_SEA:
        rx_coast_km = 0.0

    # §3.5–3.6: climate along the path
    dtm, _ = _longest_run_km(d, (zones == ZONE_COASTAL) | (zones == ZONE_INLAND))
    dlm, _ = _longest_run_km(d, zones == ZONE_INLAND)
    _, sea_km = _longest_run_km(d, zones == ZONE_SEA)
    omega = sea_km / dtot
    b0 = beta0_pct(centre_latitude_deg, dtm, dlm)
    ae = median_earth_radius_km(delta_n)
    ab = EARTH_RADIUS_KM * 3.0                               # eq. (7b)

    # Attachment 1 §5: terminal heights, horizons, angular distance (on the ground profile)
    hts, hrs = h[0] + tx_height_m, h[-1] + rx_height_m
    g = ground_plus_clutter(h, clutter)
    di, hi = d[1:-1], h[1:-1]
    elev_t = 1000.0 * np.arctan((hi - hts) / (1000.0 * di) - di / (2.0 * ae))          # eq. (77)
    theta_td = 1000.0 * np.arctan((hrs - hts) / (1000.0 * dtot) - dtot / (2.0 * ae))   # eq. (78)
    trans_horizon = bool(elev_t.max() > theta_td)
    if trans_horizon:
        lt = 1 + int(np.argmax(elev_t))
        theta_t = float(elev_t.max())
        elev_r = 1000.0 * np.arctan((hi - hrs) / (1000.0 * (dtot - di)) - (dtot - di) / (2.0 * ae))
        lr = 1 + (elev_r.size - 1 - int(np.argmax(elev_r[::-1])))   # the horizon nearest the receiver
        theta_r = float(elev_r.max())
        dlt, dlr = float(d[lt]), dtot - float(d[lr])
    else:
        theta_t = float(theta_td)
        theta_r = float(1000.0 * np.arctan((hts - hrs) / (1000.0 * dtot) - dtot / (2.0 * ae)))
        wavelength = 0.2998 / f_ghz
        nu = ((hi + 500.0 * di * (dtot - di) / ae - (hts * (dtot - di) + hrs * di) / dtot)
              * np.sqrt(0.002 * dtot / (wavelength * di * (dtot - di))))
        lt = lr = 1 + (nu.size - 1 - int(np.argmax(nu[::-1])))      # Bullington point, eq. (81)
        dlt = float(d[lt])
        dlr = dtot - dlt
    theta = 1e3 * dtot / ae + theta_t + theta_r                                      # eq. (84)
    hst, hsr = least_squares_ends(d, h)
    hst, hsr = min(hst, h[0]), min(hsr, h[-1])                                       # eq. (92)
    slope = (hsr - hst) / dtot
    hte, hre = tx_height_m + h[0] - hst, rx_height_m + h[-1] - hsr                   # eq. (94)
    hm = float(np.max(h[lt:lr + 1] - (hst + slope * d[lt:lr + 1])))                 # eq. (95)

    # §4.2 line of sight, §4.3 diffraction at 50 % (ae) and β0 % (ab)
    lbfs, lb0p, lb0b = line_of_sight_db(dtot, hts, hrs, f_ghz, time_pct, b0, dlt + dlr)
    hstd, hsrd = smooth_earth_heights(d, h, hts, hrs)                                # eqs. (89)–(91)
    ld50, lbulla, lbulls, ldsph = delta_bullington_p1812(d, g, hts, hrs, hstd, hsrd, frequency_mhz, ae, omega,
                                                         vertical)
    ldb = delta_bullington_p1812(d, g, hts, hrs, hstd, hsrd, frequency_mhz, ab, omega, vertical)[0]
    # §4.5 ducting / layer reflection, then §4.3.5–4.6 the combination with troposcatter (§4.4)
    lba = anomalous_loss_db(dtot, dlt, dlr, tx_coast_km, rx_coast_km, dlm, hts, hrs, hte, hre, hm,
                            theta_t, theta_r, f_ghz, time_pct, omega, ae, b0)
    ldp, lbd50, lbd, lminb0p, lminbap, lbda, lbam, lbs, lbc = combine_db(
        dtot, theta, f_ghz, time_pct, b0, omega, n0, lbfs, lb0p, lb0b, ld50, ldb, lba)
    # §4.8 location variability (none for a receiver at sea), eq. (69)
    lloc = 0.0 if zones[-1] == ZONE_SEA else -inverse_normal(location_pct / 100.0) * location_sigma_db
    lb = max(lb0p, lbc + lloc)
    return P1812Result(
        loss_db=float(lb), field_strength_dbuv_m=float(199.36 + 20.0 * np.log10(f_ghz) - lb),
        Lbfs=float(lbfs), Lb0p=float(lb0p), Lb0b=float(lb0b), Lbulla=float(lbulla), Lbulls=float(lbulls),
        Ldsph=float(ldsph), Ld50=float(ld50), Ldb=float(ldb), Ldp=float(ldp), Lbd50=float(lbd50), Lbd=float(lbd),
        Lminb0p=float(lminb0p), Lba=float(lba), Lminbap=float(lminbap), Lbda=float(lbda), Lbam=float(lbam),
        Lbs=float(lbs), Lbc=float(lbc), Lloc=float(lloc), distance_km=dtot, dlt_km=dlt, dlr_km=dlr,
        theta_t_mrad=theta_t, theta_r_mrad=theta_r, theta_mrad=float(theta), hte_m=float(hte), hre_m=float(hre),
        hm_m=hm, hstd_m=hstd, hsrd_m=hsrd,
        sea_fraction=float(omega), beta0_pct=b0, ae_km=float(ae), trans_horizon=trans_horizon)


def line_of_sight_db(dtot, hts, hrs, f_ghz, p, b0, horizons_km):
    """(Lbfs, Lb0p, Lb0b), §4.2 eqs. (8)–(11); ``horizons_km`` = dlt + dlr."""
    lbfs = 92.4 + 20.0 * math.log10(f_ghz) + 10.0 * math.log10(dtot * dtot + ((hts - hrs) / 1000.0) ** 2)
    multipath = 2.6 * (1.0 - math.exp(-0.1 * horizons_km))
    return lbfs, lbfs + multipath * math.log10(p / 50.0), lbfs + multipath * math.log10(b0 / 50.0)


def combine_db(dtot, theta, f_ghz, p, b0, omega, n0, lbfs, lb0p, lb0b, ld50, ldb, lba):
    """Eqs. (40)–(63): diffraction at p %, its combination with line of sight, ducting and
    troposcatter. Returns (Ldp, Lbd50, Lbd, Lminb0p, Lminbap, Lbda, Lbam, Lbs, Lbc)."""
    fi = inverse_normal(p / 100.0) / inverse_normal(b0 / 100.0) if p > b0 else 1.0     # eq. (40)
    ldp = ld50 if p == 50.0 else ld50 + fi * (ldb - ld50)                            # eq. (41)
    lbd50 = lbfs + ld50                                                              # eq. (42)
    lbd = lb0p + ldp                                                                 # eq. (43)
    if p >= b0:                                                                      # eq. (59)
        lminb0p = lbd50 + (lb0b + (1.0 - omega) * ldp - lbd50) * fi
    else:
        lminb0p = lb0p + (1.0 - omega) * ldp
    lminbap = minimum_anomalous_db(lba, lb0p)
    fj = 1.0 - 0.5 * (1.0 + math.tanh(3.0 * 0.8 * (theta - 0.3) / 0.3))             # eq. (57)
    fk = 1.0 - 0.5 * (1.0 + math.tanh(3.0 * 0.5 * (dtot - 20.0) / 20.0))            # eq. (58)
    lbda = lminbap + (lbd - lminbap) * fk if lminbap <= lbd else lbd                 # eq. (61)
    lbam = lbda + (lminb0p - lbda) * fj                                              # eq. (62)
    lf = 25.0 * math.log10(f_ghz) - 2.5 * math.log10(f_ghz / 2.0) ** 2               # eq. (45)
    lbs = (190.1 + lf + 20.0 * math.log10(dtot) + 0.573 * theta - 0.15 * n0
           - 10.125 * math.log10(50.0 / p) ** 0.7)                                   # eq. (44)
    lbc = -5.0 * math.log10(10.0 ** (-0.2 * lbs) + 10.0 ** (-0.2 * lbam))            # eq. (63)
    return ldp, lbd50, lbd, lminb0p, lminbap, lbda, lbam, lbs, lbc


def minimum_anomalous_db(lba, lb0p):
    """Lminbap, eq. (60): the smooth maximum of the ducting and line-of-sight losses (η = 2.5)."""
    top = max(lba, lb0p)
    return top + 2.5 * math.log(math.exp((lba - top) / 2.5) + math.exp((lb0p - top) / 2.5))


def _site_shielding_db(theta_mrad, horizon_km, f_ghz, f13):
    """Ast or Asr, eq. (48); ``f13`` = f^(1/3)."""
    t = theta_mrad - 0.1 * horizon_km
    if t <= 0.0:
        return 0.0
    return 20.0 * math.log10(1.0 + 0.361 * t * math.sqrt(f_ghz * horizon_km)) + 0.264 * t * f13


def _sea_coupling_db(coast_km, horizon_km, height_m, omega):
    """Act or Acr, eq. (49): over-sea surface duct coupling."""
    if coast_km <= 5.0 and coast_km <= horizon_km and omega >= 0.75:
        return -3.0 * math.exp(-0.25 * coast_km * coast_km) * (1.0 + math.tanh(0.07 * (50.0 - height_m)))
    return 0.0


def anomalous_loss_db(dtot, dlt, dlr, dct, dcr, dlm, hts, hrs, hte, hre, hm, theta_t, theta_r, f_ghz, p, omega,
                      ae, b0):
    """Lba, the loss during ducting and layer reflection, §4.5 eqs. (46)–(56)."""
    alf = 45.375 - 137.0 * f_ghz + 92.5 * f_ghz * f_ghz if f_ghz < 0.5 else 0.0      # eq. (47a)
    f13 = f_ghz ** (1.0 / 3.0)
    af = (102.45 + 20.0 * math.log10(f_ghz) + 20.0 * math.log10(dlt + dlr) + alf
          + _site_shielding_db(theta_t, dlt, f_ghz, f13) + _site_shielding_db(theta_r, dlr, f_ghz, f13)
          + _sea_coupling_db(dct, dlt, hts, omega) + _sea_coupling_db(dcr, dlr, hrs, omega))   # eq. (47)
    gamma_d = 5e-5 * ae * f13                                                         # eq. (51)
    theta1 = 1e3 * dtot / ae + min(theta_t, 0.1 * dlt) + min(theta_r, 0.1 * dlr)      # eq. (52)
    d_i = min(dtot - dlt - dlr, 40.0)                                                 # eq. (56a)
    mu3 = math.exp(-4.6e-5 * (hm - 10.0) * (43.0 + 6.0 * d_i)) if hm > 10.0 else 1.0  # eq. (56)
    tau = 1.0 - math.exp(-4.12e-4 * dlm**2.41)                                        # eq. (3)
    alpha = max(-0.6 - 3.5e-9 * dtot**3.1 * tau, -3.4)                                # eq. (55a)
    # eq. (55); terminals at 0 m (outside the validity range, warned) would divide by zero
    mu2 = min((500.0 / ae * dtot * dtot / max(math.sqrt(hte) + math.sqrt(hre), 1e-6) ** 2) ** alpha, 1.0)
    return af + gamma_d * theta1 + time_variability_db(p, b0 * mu2 * mu3, dtot)       # eqs. (50), (54)


def time_variability_db(p, beta, dtot):
    """Ap, eqs. (53)–(53a): the time-percentage dependence of ducting for β % (it falls as β grows)."""
    lb = math.log10(beta)
    gamma = 1.076 / (2.0058 - lb) ** 1.012 * math.exp(-(9.51 - 4.8 * lb + 0.198 * lb * lb) * 1e-6 * dtot**1.13)
    return -12.0 + (1.2 + 3.7e-3 * dtot) * math.log10(p / beta) + 12.0 * (p / beta) ** gamma

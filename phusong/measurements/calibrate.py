"""Model calibration: fit an offset, a log-distance slope and per-land-cover-class offsets to a model's
path loss from measured signal, and say honestly how much it helps.

1. **Match and filter.** Each sample is compared with the signal its own serving cell gives at that
   grid cell in a ``simulate`` run (same loss windows, antenna gain and link budget:
   :func:`phusong.coverage.points.signal_at`). Left out, and counted: RSSI samples (not comparable
   with RSRP), samples whose technology is not their cell's, samples off the terrain or beyond the
   model radius, closer than ``min_distance_m`` to the site, or at or below the receiver floor (by
   default the bottom of the UE's reporting range, where a value stops being a measurement; a higher
   floor cuts weak samples by their measured value and biases the slope low).
2. **Lee averaging.** Along each route (``route`` column, else cut at 10-minute or 2-km jumps), the
   samples of a cell are averaged in linear power over bins of 40 wavelengths of its frequency
   (W. C. Y. Lee, "Estimate of local average power of a mobile radio signal", IEEE Trans. Veh.
   Technol. 34(1), 1985: 40λ removes fast fading while keeping the shadowing). The prediction is
   averaged the same way, so a perfect prediction leaves no error. Bins with fewer than
   ``min_samples_per_bin`` samples are dropped; when the median bin holds fewer than 10, the notes say
   what unaveraged Rayleigh fading does to the offset.
3. **Fit.** The error e = predicted − measured (dB) of each bin is fitted by least squares as
   ``offset + slope·(log10 d − log10 d_ref) + class_offset[k]``, with a ridge penalty
   ``class_regularisation`` (in bins) on the class offsets, which pulls a class seen in few bins
   towards the global offset; the slope is fitted only when the bins span at least a factor of 2 in
   distance. Standard errors are the delete-one-route jackknife, since bins along one route share
   their shadowing (a naive standard error treating them as independent is several times too small).
4. **Cross-validation** by route or by cell (never by random sample: neighbouring bins are
   correlated and would flatter the fit): each fold is predicted by a fit without it, its distance
   term clamped to the distances that fit saw. Mean, standard deviation, RMSE and the share within
   ±6 dB before and after, overall and per class, cell, route and distance band.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.special import digamma

from ..coverage.cells import prepare_cells
from ..coverage.points import signal_at
from ..errors import InputError
from ..propagation.correction import LossCorrection
from ..settings import Settings

SPEED_OF_LIGHT_M_S = 299_792_458.0
# The bottom of the UE's reporting range: RSRP_00 is "below −140 dBm" (3GPP TS 36.133 V17 Table 9.1.4-1),
# SS-RSRP_0 "below −156 dBm" (TS 38.133 V17 Table 10.1.6.1-1): lower values are not measurements.
REPORTING_FLOOR_DBM = {"4G": -140.0, "NB-IoT": -140.0, "5G": -156.0}
RAYLEIGH_BIAS_FEW = 10   # below this median of samples per bin, the report says what fast fading does
MIN_BINS = 3   # a fit of offset and slope needs more than two bins
MIN_CLUSTERS = 20        # fewer routes than this: the jackknife's standard errors are rough
METRIC_OF = {"4G": "rsrp", "5G": "ss_rsrp", "NB-IoT": "rsrp"}
ROUTE_GAP_S = 600.0
ROUTE_JUMP_M = 2000.0
DISTANCE_BANDS_KM = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, np.inf)
WITHIN_DB = 6.0
CV_BY = ("route", "cell")


@dataclass(frozen=True)
class Filters:
    """What calibration keeps: see the module."""

    min_distance_m: float = 100.0
    noise_floor_dbm: float | None = None       # default: the bottom of the UE's reporting range (see above)
    min_samples_per_bin: int = 1
    bin_wavelengths: float = 40.0


@dataclass
class Calibration:
    """A fitted :class:`LossCorrection` with its standard errors, the bins it came from and the
    cross-validated errors before and after it."""

    correction: LossCorrection
    standard_errors: dict
    bins: gpd.GeoDataFrame
    counts: dict
    summary: pd.DataFrame
    cv: str
    folds: int
    notes: list[str] = field(default_factory=list)
    demonstration: tuple[str, ...] = ()
    covariance: pd.DataFrame | None = None   # of the fitted parameters (delete-one-route jackknife)

    def overall(self, when: str = "after") -> dict:
        """Cross-validated error statistics of all bins, ``before`` or ``after`` the correction."""
        row = self.summary[self.summary["scope"] == "all"].iloc[0]
        return {k: row[f"{when}_{k}"] for k in ("mean_db", "sd_db", "rmse_db", "within_6db_pct")}

    @property
    def validation(self) -> str:
        """How the errors after were found: cross-validated, or in-sample when the measurements form one group."""
        if self.folds >= 2:
            return f"cross-validated by {self.cv} ({self.folds} folds)"
        return f"in-sample (one {self.cv} group: not cross-validated)"

    def to_toml(self, sources: dict | None = None) -> str:
        """The calibration file: ``[correction]`` (what ``simulate --calibration`` applies), then what it
        rests on (standard errors, counts, cross-validation, sources)."""
        from .._tables import toml_text

        tables = {"correction": self.correction.to_dict(),
                  "standard_errors": self.standard_errors,
                  "fit": {"cv_by": self.cv, "folds": self.folds,
                          **{re.sub(r"[^a-z0-9]+", "_", k.lower()).strip("_"): v for k, v in self.counts.items()}},
                  "cross_validation": {"before": _plain(self.overall("before")),
                                       "after": _plain(self.overall("after"))}}
        if sources:
            tables["sources"] = sources
        comments = ["phusong calibration: the correction (dB) added to the model's path loss; "
                    "apply with `phusong simulate --calibration FILE`"]
        if self.demonstration:
            tables["demonstration"] = {"reasons": list(self.demonstration)}
            comments.append("DEMONSTRATION: fitted to synthetic or generated inputs")
        return toml_text(tables, comments)


def _plain(d: dict) -> dict:
    return {k: (round(float(v), 4) if np.isfinite(v) else float("nan")) for k, v in d.items()}


# ---------------------------------------------------------------------------------------------- binning
def routes_of(samples: pd.DataFrame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A route name per sample: its ``route`` value, else a drive cut where the time jumps by more than
    10 minutes or the position by more than 2 km (samples ordered by time, then file row)."""
    given = (samples["route"].fillna("").astype(str).to_numpy() if "route" in samples
             else np.full(len(samples), ""))
    if len(samples) and (given != "").all():
        return given
    order = _order(samples)
    t = _seconds(samples)[order]
    step = np.hypot(np.diff(x[order]), np.diff(y[order]))
    gap = np.abs(np.diff(t))
    cut = (step > ROUTE_JUMP_M) | (np.nan_to_num(gap, nan=0.0) > ROUTE_GAP_S)
    number = np.concatenate([[0], np.cumsum(cut)])
    out = np.empty(len(samples), dtype=object)
    out[order] = [f"route-{n + 1}" for n in number]
    return np.where(given != "", given, out).astype(str)


def _seconds(samples: pd.DataFrame) -> np.ndarray:
    """Each sample's time in seconds since 1970 (NaN without one)."""
    if "time" not in samples:
        return np.full(len(samples), np.nan)
    time = pd.to_datetime(samples["time"], utc=True)
    return (time - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(float)


def _order(samples: pd.DataFrame) -> np.ndarray:
    """Positions of the samples in driving order: by time when every sample has one, else by file row."""
    rows = samples["row"].to_numpy() if "row" in samples else np.arange(len(samples))
    t = _seconds(samples)
    if len(t) and np.isfinite(t).all():
        return np.lexsort((rows, t))
    return np.argsort(rows, kind="stable")


def lee_bins(route, x, y, time_order, cell, wavelength_m, bin_wavelengths: float = 40.0) -> np.ndarray:
    """A bin number per sample: along each route (samples in ``time_order``), the distance travelled
    divided into lengths of ``bin_wavelengths`` wavelengths of each sample's cell; samples of one cell
    within one length share a bin. Returns int64 bin ids (0…)."""
    n = len(route)
    order = np.asarray(time_order)
    travelled = np.zeros(n)
    frame = pd.DataFrame({"route": np.asarray(route)[order], "x": np.asarray(x)[order],
                          "y": np.asarray(y)[order]})
    step = np.hypot(frame.groupby("route", sort=False)["x"].diff().fillna(0.0),
                    frame.groupby("route", sort=False)["y"].diff().fillna(0.0))
    travelled[order] = step.groupby(frame["route"], sort=False).cumsum().to_numpy()
    index = np.floor(travelled / (bin_wavelengths * np.asarray(wavelength_m, float))).astype(np.int64)
    keys = pd.DataFrame({"route": np.asarray(route), "cell": np.asarray(cell), "index": index})
    return keys.groupby(["route", "cell", "index"], sort=False).ngroup().to_numpy(np.int64)


def lee_average(table: pd.DataFrame) -> pd.DataFrame:
    """One row per ``bin`` of ``table``: ``measured_dbm``/``predicted_dbm`` averaged in linear power (Lee's
    local mean), mean ``log_distance`` and position, the most common ``landcover_class``, the count."""
    grouped = table.groupby("bin", sort=True)
    out = grouped.agg(route=("route", "first"), cell_index=("cell_index", "first"), samples=("bin", "size"),
                      log_distance=("log_d", "mean"), x=("x", "mean"), y=("y", "mean"))
    for name, col in (("measured_dbm", "measured"), ("predicted_dbm", "predicted")):
        top = grouped[col].transform("max")        # scaled by each bin's strongest sample: no underflow
        linear = 10.0 ** ((table[col] - top) / 10.0)
        out[name] = grouped[col].max() + 10.0 * np.log10(linear.groupby(table["bin"]).mean())
    votes = table.groupby(["bin", "landcover_class"]).size().reset_index(name="n")
    votes = votes.sort_values(["bin", "n", "landcover_class"], ascending=[True, False, True])
    out["landcover_class"] = votes.drop_duplicates("bin").set_index("bin")["landcover_class"]
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- fitting
def design(log_distance, classes, reference: float, fit_slope: bool, class_codes) -> np.ndarray:
    """Columns: 1, log10 d − log10 d_ref (when the slope is fitted), one indicator per class code."""
    cols = [np.ones(len(log_distance))]
    if fit_slope:
        cols.append(np.asarray(log_distance, float) - reference)
    cols += [(np.asarray(classes) == k).astype(float) for k in class_codes]
    return np.column_stack(cols)


def ridge_fit(X: np.ndarray, e: np.ndarray, penalty: np.ndarray, clusters=None):
    """(beta, covariance): least squares of ``e`` on ``X`` with ``penalty`` (one per column) on the squared
    coefficients. With ``clusters`` of at least two groups, the covariance is the delete-one-cluster
    jackknife, (G − 1)/G Σ_g (β₋g − β̄)(β₋g − β̄)ᵀ (robust to errors correlated within a cluster, and not
    too small when clusters are few, unlike the CR1 sandwich: MacKinnon & White 1985; Bell & McCaffrey
    2002); otherwise the usual σ²-based one."""
    A = X.T @ X + np.diag(penalty)
    b = X.T @ e
    beta = np.linalg.pinv(A) @ b
    n, p = X.shape
    groups = np.unique(clusters) if clusters is not None else np.array([])
    if len(groups) >= 2:
        loo = np.array([np.linalg.pinv(A - X[clusters == g].T @ X[clusters == g]) @ (b - X[clusters == g].T @ e[clusters == g])
                        for g in groups])
        centred = loo - loo.mean(axis=0)
        cov = (len(groups) - 1) / len(groups) * centred.T @ centred
    else:
        resid = e - X @ beta
        bread = np.linalg.pinv(A)
        cov = float(resid @ resid) / max(n - p, 1) * bread @ (X.T @ X) @ bread
    return beta, cov


def fold_of(groups, folds: int) -> np.ndarray:
    """A fold number per bin: whole groups (routes or cells) to folds, largest first, each to the fold with
    the fewest bins so far (deterministic)."""
    names, sizes = np.unique(np.asarray(groups), return_counts=True)
    k = max(1, min(folds, len(names)))
    load = np.zeros(k)
    of = {}
    for i in np.lexsort((names, -sizes)):
        f = int(np.argmin(load))
        of[names[i]] = f
        load[f] += sizes[i]
    return np.array([of[g] for g in np.asarray(groups)], dtype=np.int64)


def error_stats(e) -> dict:
    """Mean, standard deviation, RMSE (dB) and share within ±6 dB (%) of errors ``e``."""
    e = np.asarray(e, float)
    if len(e) == 0:
        return {"mean_db": np.nan, "sd_db": np.nan, "rmse_db": np.nan, "within_6db_pct": np.nan}
    return {"mean_db": float(e.mean()), "sd_db": float(e.std(ddof=1)) if len(e) > 1 else 0.0,
            "rmse_db": float(np.sqrt(np.mean(e * e))), "within_6db_pct": float(100.0 * np.mean(np.abs(e) <= WITHIN_DB))}


def _summary(bins: pd.DataFrame) -> pd.DataFrame:
    band = pd.cut(bins["distance_km"], DISTANCE_BANDS_KM, right=False)
    band_label = band.map(lambda b: f"{b.left:g}–{b.right:g} km" if np.isfinite(b.right) else f"≥ {b.left:g} km")
    scopes = [("all", pd.Series("all", index=bins.index)), ("class", bins["landcover_class"].astype(str)),
              ("cell", bins["cell_id"].astype(str)), ("route", bins["route"].astype(str)),
              ("distance", band_label.astype(str))]
    rows = []
    for scope, labels in scopes:
        if scope == "class" and (bins["landcover_class"] == 0).all():
            continue
        for label, part in bins.groupby(labels, sort=True):
            before, after = error_stats(part["error_db"]), error_stats(part["error_after_db"])
            rows.append({"scope": scope, "group": label, "bins": len(part), "samples": int(part["samples"].sum()),
                         **{f"before_{k}": v for k, v in before.items()},
                         **{f"after_{k}": v for k, v in after.items()}})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- calibrate
def calibrate(samples: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, terrain, settings: Settings | None = None, *,
              landcover: np.ndarray | None = None, cv: str = "route", folds: int = 5,
              filters: Filters = Filters(), class_regularisation: float = 10.0, cache=None,
              progress: bool = False, demonstration: tuple[str, ...] = ()) -> Calibration:
    """Fit a :class:`LossCorrection` to ``settings.model`` from measured ``samples`` (see the module).

    ``samples`` come from :func:`phusong.measurements.read_measurements` (serving cells by ``cell_id``);
    ``sites`` from :func:`phusong.read_sites`; ``terrain`` from :func:`phusong.load_terrain`;
    ``landcover`` (class codes on the terrain's grid) adds one offset per class.
    """
    if cv not in CV_BY:
        raise InputError(f"cross-validation is by route or by cell, got {cv!r}", argument="cv")
    settings = settings or Settings()
    settings = dataclasses.replace(settings, model=dataclasses.replace(settings.model, calibration=None))
    grid = terrain.grid
    techs = tuple(sorted(set(sites["technology"])))
    settings = settings.replace(coverage={"technologies": techs, "include_candidates": True})
    cells = prepare_cells(sites, terrain.array, grid, settings)
    index_of = pd.Series(cells.index.to_numpy(), index=cells["cell_id"].astype(str))
    if index_of.index.duplicated().any():
        raise InputError(f"cell_id {index_of.index[index_of.index.duplicated()][0]!r} appears twice in the site list",
                         argument="sites")
    if samples.crs is None:
        raise InputError("the samples have no coordinate reference system", argument="measurements")
    if landcover is not None and landcover.shape != (grid.height, grid.width):
        raise InputError(f"the land cover is {landcover.shape}, not on the terrain's grid "
                         f"{(grid.height, grid.width)}: read it with read_landcover(path, terrain.grid)",
                         argument="landcover")
    counts: dict[str, int] = {"samples read": len(samples)}
    s = samples.reset_index(drop=True)
    idx = s["cell_id"].astype(str).map(index_of)
    if idx.isna().any():
        bad = s[idx.isna()]
        raise InputError(f"{len(bad)} sample(s) name a cell that is not in the site list, e.g. row "
                         f"{int(bad['row'].iloc[0])}, column cell_id: {str(bad['cell_id'].iloc[0])!r}",
                         argument="measurements")
    keep = np.ones(len(s), bool)

    def drop(mask, reason):
        mask = np.asarray(mask, bool) & keep
        if mask.any():
            counts[f"left out: {reason}"] = int(mask.sum())
            keep[mask] = False

    cell_tech = cells["technology"].to_numpy()[idx.to_numpy(np.int64)]
    drop(~np.isfinite(s["signal_dbm"].to_numpy(float)), "no signal value")
    drop(s["metric"].to_numpy() == "rssi", "RSSI samples (not comparable with RSRP)")
    drop(s["technology"].to_numpy() != cell_tech, "technology differs from the serving cell's")
    drop(s["metric"].to_numpy() != pd.Series(cell_tech).map(METRIC_OF).to_numpy(), "signal is not the cell's RSRP")
    pts = s.geometry.to_crs(grid.crs)
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    pred = signal_at(terrain.array, grid, cells, idx.to_numpy(np.int64), x, y, settings, cache=cache,
                     landcover=None, progress=progress)
    drop(pred["rsrp_dbm"].isna(), "off the terrain or beyond the model radius")
    drop(pred["distance_km"].to_numpy() * 1000.0 < filters.min_distance_m,
         f"closer than {filters.min_distance_m:g} m to the site")
    floor = (pd.Series(cell_tech).map(REPORTING_FLOOR_DBM).to_numpy(float) if filters.noise_floor_dbm is None
             else np.full(len(s), filters.noise_floor_dbm))
    drop(s["signal_dbm"].to_numpy() <= floor, "at or below the receiver floor")
    if keep.sum() == 0:
        raise InputError("no sample is left to calibrate with: " + "; ".join(
            f"{n} {k[10:]}" for k, n in counts.items() if k.startswith("left out")), argument="measurements")

    route = routes_of(s, x, y)
    freq = cells["frequency_mhz"].to_numpy(float)[idx.to_numpy(np.int64)]
    k = np.flatnonzero(keep)
    bin_id = lee_bins(route[k], x[k], y[k], _order(s.iloc[k].reset_index(drop=True)), idx.to_numpy()[k],
                      SPEED_OF_LIGHT_M_S / (freq[k] * 1e6), filters.bin_wavelengths)
    classes = (landcover[pred["row"].to_numpy()[k], pred["col"].to_numpy()[k]] if landcover is not None
               else np.zeros(len(k), np.int64))
    table = pd.DataFrame({"bin": bin_id, "route": route[k], "cell_index": idx.to_numpy()[k],
                          "measured": s["signal_dbm"].to_numpy(float)[k], "predicted": pred["rsrp_dbm"].to_numpy()[k],
                          "log_d": np.log10(pred["distance_km"].to_numpy()[k]), "x": x[k], "y": y[k],
                          "landcover_class": classes})
    bins = lee_average(table)
    few = bins["samples"] < filters.min_samples_per_bin
    counts["bins"] = int(len(bins))
    if few.any():
        counts[f"bins left out: fewer than {filters.min_samples_per_bin} samples"] = int(few.sum())
    bins = bins[~few].reset_index(drop=True)
    if len(bins) < MIN_BINS:
        dropped = "; ".join(f"{k}: {v}" for k, v in counts.items() if k not in ("samples read", "bins"))
        raise InputError(f"only {len(bins)} bin(s) of measurements are left, at least {MIN_BINS} are needed to "
                         f"calibrate ({dropped or 'nothing was left out'})", path=samples.attrs.get("path"),
                         argument="measurements")
    counts["bins used"] = int(len(bins))
    counts["samples used"] = int(bins["samples"].sum())
    bins["cell_id"] = cells["cell_id"].astype(str).to_numpy()[bins["cell_index"].to_numpy()]
    bins["frequency_mhz"] = cells["frequency_mhz"].to_numpy()[bins["cell_index"].to_numpy()]
    bins["distance_km"] = 10.0 ** bins["log_distance"]
    bins["error_db"] = bins["predicted_dbm"] - bins["measured_dbm"]

    notes: list[str] = []
    per_bin = float(bins["samples"].median())
    if per_bin < RAYLEIGH_BIAS_FEW:
        # E[10 log10 of the mean of n exponential powers] = 10/ln 10 (ψ(n) − ln n): −2.5 dB for n = 1
        bias = -10.0 / np.log(10.0) * (digamma(round(per_bin)) - np.log(round(per_bin)))
        notes.append(f"the bins hold a median of {per_bin:g} sample(s): fast fading is not averaged out (Lee asks "
                     f"for about 36 per 40 wavelengths); under Rayleigh fading the offset reads up to {bias:.1f} dB "
                     "high; log faster, or raise --min-samples-per-bin")
    log_d = bins["log_distance"].to_numpy()
    reference = float(np.round(np.median(log_d), 3))
    fit_slope = bool(log_d.max() - log_d.min() >= np.log10(2.0))
    if not fit_slope:
        notes.append("the bins span less than a factor of 2 in distance: no slope fitted (0 dB/decade)")
    codes = sorted(int(c) for c in np.unique(bins["landcover_class"]) if c != 0) if landcover is not None else []
    if landcover is not None:
        unclassed = float((bins["landcover_class"] == 0).mean())
        if unclassed == 1.0:
            raise InputError("the land cover holds no class at any measurement (does it cover the drive test?)",
                             argument="landcover")
        if unclassed > 0.1:
            notes.append(f"{100 * unclassed:.0f}% of the bins lie where the land cover has no class (0)")
    penalty = np.array([0.0] * (1 + fit_slope) + [max(class_regularisation, 1e-9)] * len(codes))
    e = bins["error_db"].to_numpy()
    X = design(log_d, bins["landcover_class"], reference, fit_slope, codes)
    # standard errors: by route whatever the folds, since bins along a route share their shadowing
    routes = bins["route"].to_numpy()
    beta, cov = ridge_fit(X, e, penalty, routes)
    n_routes = len(np.unique(routes))
    if n_routes < MIN_CLUSTERS:
        notes.append(f"{n_routes} route(s): standard errors from fewer than {MIN_CLUSTERS} routes are rough")

    groups = routes if cv == "route" else bins["cell_id"].to_numpy()
    fold = fold_of(groups, folds)
    after = np.empty(len(e))
    n_folds = int(fold.max()) + 1
    if n_folds >= 2:
        for f in range(n_folds):
            test = fold == f
            b, _ = ridge_fit(X[~test], e[~test], penalty)
            # as `simulate` applies a correction: its distance term clamped to the distances it was fitted on
            seen = log_d[~test]
            x_test = design(np.clip(log_d[test], seen.min(), seen.max()), bins["landcover_class"][test], reference,
                            fit_slope, codes)
            after[test] = e[test] - x_test @ b
    else:
        after = e - X @ beta
        notes.append(f"one {cv} only: the errors after are in-sample, not cross-validated")
    bins["fold"] = fold
    bins["error_after_db"] = after
    bins["correction_db"] = X @ beta

    names = ["offset_db"] + (["slope_db_per_decade"] if fit_slope else []) + [f"class_{c}_db" for c in codes]
    covariance = pd.DataFrame(cov, index=names, columns=names)
    slope = float(beta[1]) if fit_slope else 0.0
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    first_class = 1 + fit_slope
    class_offsets = {c: float(beta[first_class + i]) for i, c in enumerate(codes)}
    totals_se = {str(c): float(np.sqrt(max(cov[0, 0] + cov[first_class + i, first_class + i]
                                               + 2 * cov[0, first_class + i], 0.0))) for i, c in enumerate(codes)}
    correction = LossCorrection(settings.model.name, float(beta[0]), slope, float(10.0 ** reference),
                                (float(10.0 ** log_d.min()), float(10.0 ** log_d.max())), class_offsets,
                                settings.model.clutter)
    standard_errors = {"offset_db": float(se[0]), "slope_db_per_decade": float(se[1]) if fit_slope else 0.0,
                       "clusters": f"{n_routes} routes"}
    if codes:
        standard_errors["class_total_db"] = totals_se     # of offset + class offset
    counts["median samples per bin"] = int(round(per_bin))
    geometry = gpd.points_from_xy(bins["x"], bins["y"], crs=grid.crs)
    out = gpd.GeoDataFrame(bins.drop(columns=["x", "y", "log_distance", "cell_index"]), geometry=geometry)
    calibration = Calibration(correction, standard_errors, out, counts, _summary(out), cv, n_folds, notes,
                              demonstration, covariance)
    before, after = calibration.overall("before")["rmse_db"], calibration.overall("after")["rmse_db"]
    if n_folds >= 2 and after > before:
        notes.append(f"the correction does not help: the cross-validated RMSE grows from {before:.1f} to {after:.1f} "
                     "dB (too few or too scattered measurements for this fit; better not to apply it)")
    return calibration

"""The commune check: does each commune's measured signal bear out the coverage a run claims there?

For every commune and one technology, the samples inside it are compared with the run:

- measured share: samples at or above the coverage threshold (the run's, e.g. −105 dBm), with its
  Wilson score interval at the chosen confidence (E. B. Wilson, "Probable inference, the law of
  succession, and statistical inference", JASA 22, 1927);
- predicted share: samples at points the run marks covered. A covered point is one where the signal
  clears the threshold with the run's location probability L, so if the run is right the measured
  share should be at least L × the predicted share (the claimed minimum);
- status: ``refuted`` when the interval's upper bound lies below the claimed minimum; ``consistent``
  when the measured share reaches it; otherwise ``too few samples``, with the number of samples at
  which an interval of the same share would exclude the claim; ``no samples`` when there are none.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
from statistics import NormalDist

# the signal a sample must carry to be compared with a technology's coverage level
METRIC_OF = {"4G": "rsrp", "5G": "ss_rsrp", "NB-IoT": "rsrp"}
STATUSES = ("refuted", "too few samples", "consistent", "no samples")


def wilson_interval(k, n, confidence: float = 0.95):
    """Wilson score interval (low, high) of a share ``k``/``n`` (arrays; NaN where ``n`` is 0)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return np.where(n > 0, centre - half, np.nan), np.where(n > 0, centre + half, np.nan)


def samples_needed(share: float, claimed: float, confidence: float = 0.95, limit: int = 10_000_000) -> int:
    """The fewest samples at which the same measured ``share`` (below ``claimed``) would refute the claim:
    the smallest n whose Wilson upper bound at that share lies below ``claimed`` (0 when no n up to
    ``limit`` would)."""
    if not share < claimed:
        return 0

    def refutes(n):
        return wilson_interval(share * n, n, confidence)[1] < claimed
    high = 1
    while not refutes(high):
        high *= 2
        if high > limit:
            return 0
    low = high // 2          # refutes(high), not refutes(low) (or low = 0)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if refutes(mid) else (mid, high)
    return high


def _covered_at(covered: np.ndarray, grid, points: gpd.GeoSeries) -> np.ndarray:
    """The run's covered flag (1/0) at each point (the cell holding it); 0 off the grid or outside the area."""
    rows, cols = grid.rowcol(points.x.to_numpy(), points.y.to_numpy())
    r, c = np.floor(rows + 0.5).astype(np.int64), np.floor(cols + 0.5).astype(np.int64)
    inside = (r >= 0) & (r < grid.height) & (c >= 0) & (c < grid.width)
    out = np.zeros(len(points), np.uint8)
    out[inside] = covered[r[inside], c[inside]] == 1
    return out


def check_communes(coverage, samples: gpd.GeoDataFrame, communes: gpd.GeoDataFrame, technology: str = "5G",
                   confidence: float = 0.95, operator: str | None = None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(communes, samples): the check of every commune (see the module) and the samples used, each with
    its commune, whether it reaches the threshold and whether the run marks its point covered.

    ``coverage`` is a :class:`~phusong.coverage.network.Coverage` (its threshold and location
    probability are used); ``samples`` come from :func:`~phusong.measurements.read_measurements`.
    With ``operator``, only that operator's samples are compared with that operator's layer (a run made
    with ``--per-operator``); otherwise every sample with the best of all operators.
    """
    from ..coverage.cells import slug
    from ..errors import InputError

    if technology not in coverage.covered:
        raise InputError(f"the run has no {technology} layer (it has {', '.join(coverage.covered) or 'none'})",
                         argument="technology")
    covered = coverage.covered[technology]
    if operator is not None:
        try:
            covered = coverage.layer(technology, slug(operator)).covered
        except KeyError:
            raise InputError(f"the run has no {technology} layer of operator {operator!r} (make it with "
                             "`simulate --per-operator`)", argument="operator") from None
        samples = samples[samples["operator"].astype(str).map(slug) == slug(operator)]
    grid, settings = coverage.grid, coverage.settings
    threshold = settings.threshold_dbm(technology)
    level = settings.coverage.location_probability
    mine = samples[(samples["technology"] == technology) & (samples["metric"] == METRIC_OF[technology])]
    mine = mine.to_crs(grid.crs)
    zones = communes[["code", "name", "geometry"]].to_crs(grid.crs)
    joined = gpd.sjoin(mine, zones[["code", "geometry"]].rename(columns={"code": "commune_code"}),
                       predicate="within", how="inner").drop(columns="index_right")
    joined["reaches_threshold"] = joined["signal_dbm"] >= threshold
    joined["predicted_covered"] = _covered_at(covered, grid, joined.geometry).astype(bool)

    per = joined.groupby("commune_code").agg(samples=("row", "size"), ok=("reaches_threshold", "sum"),
                                             predicted=("predicted_covered", "sum"))
    out = zones.merge(per, left_on="code", right_index=True, how="left")
    out[["samples", "ok", "predicted"]] = out[["samples", "ok", "predicted"]].fillna(0).astype(int)
    n, k = out["samples"].to_numpy(), out["ok"].to_numpy()
    low, high = wilson_interval(k, n, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, k / np.maximum(n, 1), np.nan)
        predicted = np.where(n > 0, out["predicted"].to_numpy() / np.maximum(n, 1), np.nan)
    claimed = level * predicted
    status = np.where(n == 0, "no samples", np.where(high < claimed, "refuted",
                                                     np.where(share >= claimed, "consistent", "too few samples")))
    needed = [samples_needed(s, c, confidence) if st == "too few samples" else 0
              for s, c, st in zip(share, claimed, status)]
    out = out.drop(columns=["ok", "predicted"]).assign(
        technology=technology, threshold_dbm=threshold,
        measured_share_pct=np.round(100 * share, 2), ci_low_pct=np.round(100 * low, 2),
        ci_high_pct=np.round(100 * high, 2), predicted_share_pct=np.round(100 * predicted, 2),
        claimed_min_share_pct=np.round(100 * claimed, 2), status=status, samples_needed=needed)
    out.attrs["confidence"] = confidence
    return out, joined

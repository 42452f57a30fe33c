"""Candidate actions: upgrade an existing mast, share another operator's mast, or build a new site.

Every candidate is one row of a candidate table (id, action, position, operator,
technology, sectors, cost) and the site-list rows of the cells it would install
(status ``planned``, so that a site list with them is valid input for ``simulate``).
Greenfield sites are local high points of the terrain near uncovered demand, spread
apart, a few per cluster of demand, plus one at each uncovered commune centre and one
on the highest ground of each industrial zone without a 5G site.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from .._raster import Grid
from ..errors import InputError
from ..sites.schema import COLUMNS
from .costs import CarrierTemplate, Costs

SCHEMA = [c.name for c in COLUMNS]
CANDIDATE_COLUMNS = ["candidate_id", "action", "site_id", "operator", "technology", "lon", "lat", "x", "y",
                     "antenna_height_m", "sectors", "cost", "source"]


def masts(sites: pd.DataFrame) -> pd.DataFrame:
    """One row per existing or planned mast (``site_id``): position, height, operators, technologies, azimuths."""
    live = sites[sites["status"] != "candidate"]
    rows = []
    for site_id, part in live.groupby("site_id", sort=True):
        az = sorted({round(float(a), 1) for a in part["azimuth_deg"] if np.isfinite(a)})
        rows.append({"site_id": str(site_id), "lon": float(part["lon"].iloc[0]), "lat": float(part["lat"].iloc[0]),
                     "antenna_height_m": float(part["antenna_height_m"].max()),
                     "operators": tuple(sorted(set(part["operator"]))),
                     "technologies": {op: set(p["technology"]) for op, p in part.groupby("operator")},
                     "azimuths": tuple(az)})
    return pd.DataFrame(rows)


def cells_for(candidate_id: str, site_id: str, lon: float, lat: float, height_m: float, operator: str,
              carrier: CarrierTemplate, azimuths=()) -> list[dict]:
    """The site-list rows (status ``planned``) of the cells one action installs."""
    azimuths = list(azimuths) or [round(360.0 * k / carrier.sectors, 1) for k in range(carrier.sectors)]
    tech = carrier.technology
    return [dict(site_id=site_id, cell_id=f"{site_id}-{tech}-{candidate_id}-{k + 1}", lon=round(lon, 7),
                 lat=round(lat, 7), technology=tech, frequency_mhz=carrier.frequency_mhz,
                 antenna_height_m=height_m, tx_power_dbm=carrier.tx_power_dbm, operator=operator,
                 bandwidth_mhz=carrier.bandwidth_mhz, azimuth_deg=az, mechanical_tilt_deg=0.0,
                 electrical_tilt_deg=carrier.electrical_tilt_deg, beamwidth_h_deg=carrier.beamwidth_h_deg,
                 beamwidth_v_deg=carrier.beamwidth_v_deg, antenna_gain_dbi=carrier.antenna_gain_dbi,
                 feeder_loss_db=carrier.feeder_loss_db, status="planned", antenna_file=None,
                 candidate_id=candidate_id) for k, az in enumerate(azimuths)]


class CandidateBuilder:
    """Collects candidates and their cells; ``table()`` returns both as DataFrames."""

    def __init__(self, costs: Costs, technology: str, grid: Grid):
        self.costs, self.carrier, self.grid = costs, costs.carrier[technology], grid
        self.rows: list[dict] = []
        self.cells: list[dict] = []
        self._to_xy = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)

    def next_id(self) -> str:
        """The id the next candidate gets."""
        return f"C{len(self.rows) + 1:05d}"

    def add(self, action: str, site_id: str | None, lon: float, lat: float, height_m: float, operator: str,
            source: str, azimuths=(), cells: list[dict] | None = None) -> None:
        """One candidate; its cells from the carrier template (one per azimuth) unless ``cells`` are given."""
        cid = self.next_id()
        site_id = site_id or f"NEW-{cid}"
        x, y = self._to_xy.transform(lon, lat)
        if cells is None:
            cells = cells_for(cid, site_id, lon, lat, height_m, operator, self.carrier, azimuths)
        technology = pd.Series([c["technology"] for c in cells]).mode().iloc[0]
        self.rows.append(dict(candidate_id=cid, action=action, site_id=site_id, operator=operator,
                              technology=technology, lon=lon, lat=lat, x=float(x), y=float(y),
                              antenna_height_m=height_m, sectors=len(cells),
                              cost=float(self.costs.action_cost(action, len(cells))), source=source))
        self.cells.extend(cells)

    def add_xy(self, action: str, x: float, y: float, height_m: float, operator: str, source: str) -> None:
        lon, lat = self._to_xy.transform(x, y, direction="INVERSE")
        self.add(action, None, float(lon), float(lat), height_m, operator, source)

    def table(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return pd.DataFrame(self.rows, columns=CANDIDATE_COLUMNS), pd.DataFrame(self.cells)


def mast_candidates(builder: CandidateBuilder, sites: pd.DataFrame, operator: str | None) -> None:
    """Upgrade masts that lack the technology; with ``operator``, share other operators' masts.

    Operator-neutral (``operator`` None): a mast without the technology is upgraded by its first
    operator; sharing adds nothing an upgrade of the same mast would not, so it is not proposed.
    """
    tech = builder.carrier.technology
    for m in masts(sites).itertuples(index=False):
        if operator is None:
            if not any(tech in techs for techs in m.technologies.values()):
                builder.add("upgrade", m.site_id, m.lon, m.lat, m.antenna_height_m, m.operators[0],
                            "existing mast", m.azimuths)
        elif operator in m.operators:
            if tech not in m.technologies[operator]:
                builder.add("upgrade", m.site_id, m.lon, m.lat, m.antenna_height_m, operator, "existing mast",
                            m.azimuths)
        else:
            builder.add("share", m.site_id, m.lon, m.lat, m.antenna_height_m, operator,
                        f"mast of {', '.join(m.operators)}")


def listed_candidates(builder: CandidateBuilder, rows: pd.DataFrame, sites: pd.DataFrame, path, operator) -> None:
    """Candidates from site-list rows (``status = candidate`` or a candidates file), one per ``site_id``.

    A row whose ``site_id`` is an existing mast upgrades it (same operator) or shares it (another
    operator); any other is a new site. The rows' own cells (band, power, antennas) are installed.
    """
    existing = masts(sites).set_index("site_id") if len(sites) else pd.DataFrame()
    x, y = builder._to_xy.transform(rows["lon"].to_numpy(), rows["lat"].to_numpy())
    outside = ~builder.grid.contains(x, y)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        row = int(rows["row"].iloc[i]) if "row" in rows else i + 1
        raise InputError("candidate outside the run's terrain grid", path=path, row=row, field="lon,lat")
    for site_id, part in rows.groupby("site_id", sort=True):
        op = operator or str(part["operator"].iloc[0])
        if site_id in existing.index:
            action = "upgrade" if op in existing.loc[site_id, "operators"] else "share"
        else:
            action = "new"
        cid = builder.next_id()
        cells = []
        for k, r in enumerate(part.itertuples(index=False)):
            cell = {c: getattr(r, c) for c in SCHEMA if hasattr(r, c)}
            cell.update(status="planned", operator=op, candidate_id=cid,
                        cell_id=f"{r.cell_id}" if action == "new" else f"{site_id}-{r.technology}-{cid}-{k + 1}")
            cells.append(cell)
        builder.add(action, str(site_id), float(part["lon"].iloc[0]), float(part["lat"].iloc[0]),
                    float(part["antenna_height_m"].max()), op, str(path), cells=cells)


def local_high_points(heights: np.ndarray, grid: Grid, spacing_m: float, allowed: np.ndarray | None = None):
    """Rows and columns of cells that are the highest within ``spacing_m / 2`` (finite, allowed)."""
    from scipy.ndimage import maximum_filter

    size = max(3, int(round(spacing_m / grid.res_m / 2)) | 1)
    filled = np.where(np.isfinite(heights), heights, -np.inf).astype(np.float32)
    peak = (filled == maximum_filter(filled, size=size, mode="constant", cval=-np.inf)) & np.isfinite(heights)
    if allowed is not None:
        peak &= allowed
    return np.nonzero(peak)


def greenfield(heights: np.ndarray, grid: Grid, demand_xy: np.ndarray, demand_weight: np.ndarray, *,
               spacing_m: float, per_cluster: int, search_m: float, max_sites: int,
               allowed: np.ndarray | None = None) -> np.ndarray:
    """Greenfield positions (x, y) near uncovered demand: local high points, spread apart.

    Demand points are clustered on a ``search_m`` grid; each cluster proposes its ``per_cluster``
    highest high points within ``search_m`` of its demand, at least ``spacing_m`` apart. Clusters
    with more demand go first when ``max_sites`` cuts the list.
    """
    from scipy.spatial import cKDTree

    if len(demand_xy) == 0 or max_sites <= 0:
        return np.zeros((0, 2))
    rows, cols = local_high_points(heights, grid, spacing_m, allowed)
    if len(rows) == 0:
        return np.zeros((0, 2))
    px, py = grid.xy(rows, cols)
    peaks = np.column_stack([px, py])
    ph = heights[rows, cols]
    tree = cKDTree(peaks)
    key = np.floor(demand_xy / search_m).astype(np.int64)
    clusters = pd.DataFrame({"kx": key[:, 0], "ky": key[:, 1], "w": demand_weight, "i": np.arange(len(key))})
    picks, order = [], []
    for (_, _), part in clusters.groupby(["kx", "ky"], sort=True):
        near = set()
        for hits in tree.query_ball_point(demand_xy[part["i"].to_numpy()], search_m):
            near.update(hits)
        if not near:
            continue
        idx = np.array(sorted(near))
        idx = idx[np.argsort(-ph[idx], kind="stable")]
        chosen: list[int] = []
        for j in idx:
            if all(np.hypot(*(peaks[j] - peaks[k])) >= spacing_m for k in chosen):
                chosen.append(int(j))
                if len(chosen) >= per_cluster:
                    break
        picks.extend(chosen)
        order.extend([float(part["w"].sum())] * len(chosen))
    if not picks:
        return np.zeros((0, 2))
    picks_a = np.array(picks)[np.argsort(-np.array(order), kind="stable")]
    kept: list[int] = []
    kept_tree_pts: list[np.ndarray] = []
    for j in dict.fromkeys(picks_a.tolist()):
        p = peaks[j]
        if kept_tree_pts and np.min(np.hypot(*(np.array(kept_tree_pts) - p).T)) < spacing_m:
            continue
        kept.append(j)
        kept_tree_pts.append(p)
        if len(kept) >= max_sites:
            break
    return peaks[np.array(kept, dtype=int)]


def zone_high_points(heights: np.ndarray, grid: Grid, zones: gpd.GeoDataFrame) -> np.ndarray:
    """The highest cell inside each zone (its centroid when the zone holds no cell centre), as x, y."""
    from rasterio.features import rasterize

    out = []
    for geom in zones.geometry:
        mask = rasterize([(geom, 1)], out_shape=(grid.height, grid.width), transform=grid.transform,
                         dtype=np.uint8).astype(bool) & np.isfinite(heights)
        if mask.any():
            flat = np.flatnonzero(mask)
            best = flat[np.argmax(heights.ravel()[flat])]
            r, c = np.unravel_index(best, mask.shape)
            out.append(grid.xy(r, c))
        else:
            p = geom.centroid
            out.append((p.x, p.y))
    return np.array(out, dtype=float).reshape(-1, 2)

"""Coverage against the plan's targets: communes, centres, villages, zones, population.

Rules (documented in the README and settable where noted):

* A raster cell belongs to the commune that contains its centre.
* A village or settlement is covered when the cell that contains it is covered.
  A point exactly on a cell edge belongs to the cell east or south of that edge
  (GDAL's half-open cells). Commune centres follow ``centre_rule``: ``"cell"``
  (the same rule, the default) or ``"buffer:R:P"``, covered when at least P% of
  the cells whose centres lie within R metres are covered.
* Population comes from a people-per-cell raster resampled to the run grid with
  its total conserved (so each population cell is weighted by its covered
  fraction), or from a per-commune count spread evenly over the commune's cells.
* Mobile broadband (MBB) = 4G or 5G coverage. IoT-grade = NB-IoT, 4G or 5G
  coverage (LTE-M and NB-IoT ride on 4G/5G carriers).
* An industrial zone counts as covered by a service when at least
  ``zone_share_pct`` (default 90%) of its cells are; a zone smaller than a cell
  uses the cell at its centroid. "5G site in the zone" counts 5G sites inside it.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio.features import rasterize

from .._raster import Grid
from ..data.targets import Target
from ..settings import GapSettings, parse_centre_rule
from ..sites.schema import TECH_SLUG

log = logging.getLogger(__name__)

DEFAULT_ZONE_SHARE_PCT = GapSettings.zone_share_pct


@dataclass
class GapResult:
    """Every unit and every target of a gap analysis (see :func:`analyse`).

    ``communes``, ``centres``, ``villages`` (or proxy settlements), ``zones`` and ``sites`` are
    GeoDataFrames in the run's CRS with their measures; ``targets`` has one row per target
    (value, goal, gap, status, failing units). ``demonstration`` says why the result rests on
    synthetic or generated inputs (empty for real ones); ``title`` heads reports and maps.

    Examples
    --------
    >>> import phusong
    >>> gaps = phusong.GapResult.example()
    >>> gaps.targets.set_index("target_id").loc["T25-5G-CENTRES", "status"] in ("met", "not met")
    True
    """

    communes: gpd.GeoDataFrame
    centres: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame | None
    zones: gpd.GeoDataFrame | None
    sites: gpd.GeoDataFrame | None
    targets: pd.DataFrame
    villages_are_proxy: bool = False
    notes: list[str] = field(default_factory=list)
    coverage: dict = field(default_factory=dict)   # technology -> GeoDataFrame of covered area
    title: str = "Coverage scorecard"
    demonstration: tuple[str, ...] = ()
    priority: dict = field(default_factory=dict)   # name -> GeoDataFrame of a priority layer's features
    priority_summary: pd.DataFrame | None = None    # one row per layer and service (5G, MBB)
    priority_by_commune: pd.DataFrame | None = None  # lines: length and covered length per commune
    credits: tuple[str, ...] = ()                   # credit lines of the public data the inputs came from

    def to_geopackage(self, path, overwrite: bool = False) -> None:  # pragma: no mutate block
        """Write the QGIS-ready GeoPackage (layers, the targets table and layer styles), atomically."""
        from ..outputs.geopackage import write_gpkg
        write_gpkg(path, self, overwrite=overwrite)

    def write_scorecard(self, folder, overwrite: bool = False, lang: str = "vi") -> None:  # pragma: no mutate block
        """Write scorecard.md, .html (in ``lang``: vi or en), .csv and .json into ``folder``."""
        from ..outputs.scorecard import write_report
        write_report(folder, self, overwrite=overwrite, lang=lang)

    def failing_villages_by_commune(self) -> pd.DataFrame:
        """Counted villages (or proxy settlements) without mobile broadband, per commune (see
        :func:`failing_by_commune`)."""
        return failing_by_commune(self.villages, self.communes)

    @classmethod
    def from_geopackage(cls, path) -> GapResult:  # pragma: no mutate block
        """Read a GeoPackage written by :meth:`to_geopackage` (or ``phusong gaps``/``run``)."""
        from ..outputs.geopackage import read_gpkg
        return read_gpkg(path, cls)

    @classmethod
    def example(cls) -> GapResult:  # pragma: no mutate block
        """The gap analysis of :meth:`phusong.Coverage.example` for four made-up communes."""
        import shapely

        from ..coverage.network import Coverage
        from ..data.targets import load_targets

        cov = Coverage.example()
        x0, y0, x1, y1 = cov.grid.bounds
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        boxes = [shapely.box(x0, y0, xm, ym), shapely.box(xm, y0, x1, ym), shapely.box(x0, ym, xm, y1),
                 shapely.box(xm, ym, x1, y1)]
        communes = gpd.GeoDataFrame({"code": ["00001", "00002", "00003", "00004"],
                                     "name": ["Xã Một", "Xã Hai", "Xã Ba", "Phường Bốn"]},
                                    geometry=boxes, crs=cov.grid.crs)
        result = analyse(cov.covered, cov.grid, communes, load_targets())
        result.demonstration = cov.demonstration
        return result


def _cell_values(raster: np.ndarray, grid: Grid, points: gpd.GeoSeries, fill):
    """Value of the cell containing each point (a point on an edge: the cell east/south of it)."""
    t = grid.transform
    c = np.floor((points.x.to_numpy() - t.c) / t.a).astype(int)
    r = np.floor((points.y.to_numpy() - t.f) / t.e).astype(int)
    inside = (r >= 0) & (r < grid.height) & (c >= 0) & (c < grid.width)
    out = np.full(len(points), fill, dtype=raster.dtype)
    out[inside] = raster[r[inside], c[inside]]
    return out


def points_covered(covered: np.ndarray, grid: Grid, points: gpd.GeoSeries, rule=("cell",)) -> np.ndarray:
    """Whether each point is covered under ``rule`` (see the module notes)."""
    if rule[0] == "cell":
        return _cell_values(covered, grid, points, False).astype(bool)
    _, radius, share = rule
    out = np.zeros(len(points), bool)
    span = int(np.ceil(radius / grid.res_m))
    t = grid.transform
    for i, (x, y) in enumerate(zip(points.x.to_numpy(), points.y.to_numpy())):
        c0 = int(np.floor((x - t.c) / t.a))
        r0 = int(np.floor((y - t.f) / t.e))
        rows = np.arange(max(r0 - span, 0), min(r0 + span + 1, grid.height))
        cols = np.arange(max(c0 - span, 0), min(c0 + span + 1, grid.width))
        cx, cy = grid.xy(rows[:, None], cols[None, :])
        inside = np.hypot(cx - x, cy - y) <= radius
        if inside.any():
            out[i] = 100.0 * covered[np.ix_(rows, cols)][inside].mean() >= share
    return out


def off_grid_note(communes: gpd.GeoDataFrame, grid: Grid, notes: list, ids: np.ndarray, no_value: np.ndarray) -> None:
    """A note (and a warning) when communes lie partly where the run has no values: beyond its grid (a run simulated
    without ``--area`` covers only its sites' reach), or on it outside its study area (``no_value``: covered 255;
    ``ids`` from :func:`polygon_ids`)."""
    import shapely

    geoms = shapely.make_valid(communes.geometry.to_numpy())   # (the API may pass polygons GEOS cannot intersect)
    area = shapely.area(geoms)
    outside = area - shapely.area(shapely.intersection(geoms, shapely.box(*grid.bounds)))
    no_value_m2 = np.bincount(ids.ravel(), weights=no_value.ravel(), minlength=len(communes) + 1)[1:] * grid.res_m ** 2
    missing = outside + no_value_m2
    off = missing > 0.01 * area
    if not off.any():
        return
    names = ", ".join(communes["name"].astype(str)[off][:5]) if "name" in communes else ""
    more = f" and {int(off.sum()) - 5} more" if off.sum() > 5 else ""
    km2 = float(missing[off].sum()) / 1e6
    en = (f"{int(off.sum())} of {len(communes)} communes lie partly or wholly where the run has no values, beyond its "
          f"grid or its study area ({names}{more}; {km2:,.0f} km²): their figures count those parts as not covered or "
          f"leave them out. Simulate with --area covering every commune for province-wide figures.")
    vi = (f"{int(off.sum())}/{len(communes)} xã nằm một phần hoặc hoàn toàn ở nơi không có kết quả mô phỏng, ngoài "
          f"lưới hoặc ngoài vùng nghiên cứu ({names}{more}; {km2:,.0f} km²): các phần đó được tính là chưa phủ sóng "
          f"hoặc không được tính. Hãy mô phỏng với --area bao trùm mọi xã để có số liệu toàn tỉnh.")
    notes.append(Note(en, vi))
    log.warning(en)


def spread_counts(communes: gpd.GeoDataFrame, field: str, ids: np.ndarray) -> np.ndarray:
    """A population raster from per-commune counts, spread evenly over each commune's cells."""
    counts = pd.to_numeric(communes[field], errors="coerce").fillna(0.0).to_numpy()
    cells = np.bincount(ids.ravel(), minlength=len(communes) + 1)[1:]
    per_cell = np.concatenate([[0.0], np.where(cells > 0, counts / np.maximum(cells, 1), 0.0)])
    return per_cell[ids].astype(np.float32)


def coverage_polygons(covered: np.ndarray, grid: Grid, technology: str, simplify_m: float | None = None):
    """Covered area (value 1) as dissolved, simplified polygons."""
    import shapely
    from rasterio.features import shapes

    mask = covered == 1
    # shapes() yields disjoint connected regions already: simplify each, no union needed
    geoms = np.array([shapely.geometry.shape(g) for g, v in shapes(mask.astype(np.uint8), mask=mask,
                                                                    transform=grid.transform) if v == 1])
    tol = simplify_m if simplify_m is not None else grid.res_m
    parts = shapely.get_parts(shapely.simplify(geoms, tol, preserve_topology=True)) if len(geoms) else []
    polygons = [p for p in parts if p.geom_type == "Polygon" and not p.is_empty]
    merged = shapely.multipolygons(polygons) if polygons else shapely.MultiPolygon()
    return gpd.GeoDataFrame({"technology": [technology], "area_km2": [float(mask.sum()) * grid.res_m ** 2 / 1e6]},
                            geometry=[merged], crs=grid.crs)


def polygon_ids(geoms, grid: Grid) -> np.ndarray:
    """Index + 1 of the polygon holding each cell centre (int32 raster, 0: none)."""
    return rasterize(((g, i + 1) for i, g in enumerate(geoms)), out_shape=(grid.height, grid.width),
                     transform=grid.transform, dtype=np.int32, fill=0)


def analyse(covered: dict[str, np.ndarray], grid: Grid, communes: gpd.GeoDataFrame, targets: list[Target], *,
            rsrp: dict[str, np.ndarray] | None = None, centres: gpd.GeoDataFrame | None = None,
            villages: gpd.GeoDataFrame | None = None, zones: gpd.GeoDataFrame | None = None,
            sites: gpd.GeoDataFrame | None = None, population: np.ndarray | None = None,
            indicators: pd.DataFrame | None = None, zone_share_pct: float = DEFAULT_ZONE_SHARE_PCT,
            centre_rule: str = "cell", population_field: str | None = None,
            settlements: gpd.GeoDataFrame | None = None, polygons: bool = True,
            priority: dict[str, gpd.GeoDataFrame] | None = None) -> GapResult:
    """Measure every unit and every target. ``covered`` maps technology to a uint8 raster (1/0/255).

    ``settlements`` (see :func:`phusong.data.boundaries.population_points`) stand in for villages
    when there is no village layer, and are labelled as a proxy. The rules (cells, centres, zones,
    population) are the module's; :func:`phusong.analyse` calls this with a run's :class:`Settings`.
    ``polygons=False`` leaves out the covered-area polygons (for the GeoPackage and maps only).
    ``priority`` maps names to layers of the plan's priority places (points, lines or polygons; see
    :mod:`phusong.gaps.priority`).
    """
    rsrp = rsrp or {}
    techs = [t for t in ("4G", "5G", "NB-IoT") if t in covered]
    cov = {t: covered[t] == 1 for t in techs}
    none = np.zeros((grid.height, grid.width), dtype=bool)
    mbb = cov.get("4G", none) | cov.get("5G", none)
    iot = mbb | cov.get("NB-IoT", none)
    notes: list[str] = []

    communes = communes.copy()
    ids = polygon_ids(communes.geometry, grid)
    n = len(communes)
    cells = np.bincount(ids.ravel(), minlength=n + 1)[1:]
    cell_km2 = grid.res_m ** 2 / 1e6
    communes["area_km2"] = communes.geometry.area / 1e6
    off_grid_note(communes, grid, notes, ids, covered[techs[0]] == 255 if techs else
                  np.zeros((grid.height, grid.width), bool))
    if population is None and population_field:
        population = spread_counts(communes, population_field, ids)
        notes.append(Note(f"Population: the communes' {population_field!r} counts spread evenly over each commune.",
                          f"Dân số: số liệu {population_field!r} của mỗi xã được chia đều trên diện tích xã."))
    if population is not None:
        people = np.bincount(ids.ravel(), weights=population.ravel(), minlength=n + 1)[1:]
        communes["population"] = people.round(0)
    for t in techs:
        slug = TECH_SLUG[t]
        hit = np.bincount(ids.ravel(), weights=cov[t].ravel(), minlength=n + 1)[1:]
        communes[f"covered_area_pct_{slug}"] = np.where(cells > 0, 100.0 * hit / np.maximum(cells, 1), np.nan).round(2)
        communes[f"covered_area_km2_{slug}"] = (hit * cell_km2).round(3)
        if population is not None:
            pc = np.bincount(ids.ravel(), weights=(population * cov[t]).ravel(), minlength=n + 1)[1:]
            communes[f"covered_pop_pct_{slug}"] = np.where(people > 0, 100.0 * pc / np.maximum(people, 1e-9),
                                                           np.nan).round(2)
    if sites is not None and len(sites):
        s = sites.to_crs(grid.crs)
        joined = gpd.sjoin(s[["site_id", "technology", "geometry"]], communes[["code", "geometry"]],
                           predicate="within", how="inner")
        for t in techs:
            slug = TECH_SLUG[t]
            count = joined[joined["technology"] == t].groupby("code")["site_id"].nunique()
            communes[f"sites_{slug}"] = communes["code"].map(count).fillna(0).astype(int)

    # Commune centres
    if centres is None:
        centres = gpd.GeoDataFrame({"code": communes["code"], "name": communes["name"]},
                                   geometry=communes.geometry.representative_point(), crs=communes.crs)
        notes.append(Note("No commune-centre layer: an interior point of each commune stands in (proxy).",
                          "Không có lớp trung tâm xã: dùng một điểm bên trong mỗi xã thay thế (ước tính)."))
    centres = centres.copy()
    rule = parse_centre_rule(centre_rule)  # checked again: analyse() is public
    if "5G" in cov:
        centres["covered_5g"] = points_covered(cov["5G"], grid, centres.geometry, rule)
        if "5G" in rsrp:
            centres["rsrp_5g_dbm"] = _cell_values(rsrp["5G"], grid, centres.geometry, np.nan).round(1)
    else:
        centres["covered_5g"] = False
    centres["covered_mbb"] = points_covered(mbb, grid, centres.geometry, rule)
    communes["centre_covered_5g"] = communes["code"].map(dict(zip(centres["code"], centres["covered_5g"])))

    # Villages, or settlements derived from population (a labelled proxy)
    villages_are_proxy = False
    if villages is None and settlements is not None:
        j = gpd.sjoin(settlements, communes[["code", "geometry"]].rename(columns={"code": "commune_code"}),
                      predicate="within", how="inner").drop(columns="index_right")
        villages = j.reset_index(drop=True)
        villages_are_proxy = True
        notes.append(Note("No village layer: settlement points (populated cells of the population raster above a "
                          "set count) stand in for thôn/bản; they are a proxy.",
                          "Không có lớp thôn, bản: dùng các điểm dân cư (ô của bản đồ dân số có số dân trên ngưỡng) "
                          "thay thế; đây là số liệu ước tính."))
    if villages is not None:
        villages = villages.copy()
        villages["covered_mbb"] = _cell_values(mbb, grid, villages.geometry, False)
        if "has_power" in villages.columns:
            villages["has_power"] = villages["has_power"].astype(bool)
            counted = villages["has_power"]
        else:
            counted = pd.Series(True, index=villages.index)
        villages["counted"] = counted
        if "commune_code" not in villages.columns:
            j = gpd.sjoin(villages[["geometry"]], communes[["code", "geometry"]], predicate="within", how="left")
            villages["commune_code"] = j.groupby(level=0)["code"].first()

    # Industrial zones
    if zones is not None and len(zones):
        zones = zones.copy()
        zid = polygon_ids(zones.geometry, grid)
        zcells = np.bincount(zid.ravel(), minlength=len(zones) + 1)[1:]
        centroid_cells = {name: _cell_values(arr, grid, zones.geometry.centroid, False)
                          for name, arr in (("5g", cov.get("5G", none)), ("iot", iot))}
        for name, arr in (("5g", cov.get("5G", none)), ("iot", iot)):
            hit = np.bincount(zid.ravel(), weights=arr.ravel(), minlength=len(zones) + 1)[1:]
            pct = np.where(zcells > 0, 100.0 * hit / np.maximum(zcells, 1), 100.0 * centroid_cells[name])
            zones[f"covered_area_pct_{name}"] = pct.round(2)
        zones["covered_5g"] = zones["covered_area_pct_5g"] >= zone_share_pct
        zones["covered_iot"] = zones["covered_area_pct_iot"] >= zone_share_pct
        if sites is not None and len(sites):
            s5 = sites[sites["technology"] == "5G"].to_crs(grid.crs)
            j = gpd.sjoin(s5[["site_id", "geometry"]], zones[["code", "geometry"]], predicate="within")
            zones["sites_5g"] = zones["code"].map(j.groupby("code")["site_id"].nunique()).fillna(0).astype(int)
        else:
            zones["sites_5g"] = 0
        zones["has_5g_site"] = zones["sites_5g"] > 0

    target_rows = _evaluate_targets(targets, communes, centres, villages, zones, population, cov, indicators,
                                    villages_are_proxy)
    missed: dict[str, list[str]] = {code: [] for code in communes["code"]}
    for row in target_rows:
        for code in row.pop("_failing_communes"):
            missed.setdefault(code, []).append(row["target_id"])
    communes["missed_targets"] = communes["code"].map(lambda c: ", ".join(missed.get(c, [])))
    if sites is not None:
        sites = sites.to_crs(grid.crs)
    coverage = {t: coverage_polygons(covered[t], grid, t) for t in techs} if polygons else {}
    result = GapResult(communes, centres, villages, zones, sites, pd.DataFrame(target_rows), villages_are_proxy, notes,
                       coverage)
    if priority:
        from ..settings import check_priority_name
        from .priority import analyse_priority

        masks = {"5g": cov.get("5G", none), "mbb": mbb}
        summaries, lines = [], []
        for name, features in priority.items():
            result.priority[check_priority_name(name)], summary, by_commune = analyse_priority(name, features, masks,
                                                                                              grid, communes)
            summaries.append(summary)
            if by_commune is not None:
                lines.append(by_commune)
        result.priority_summary = pd.concat(summaries, ignore_index=True)
        result.priority_by_commune = pd.concat(lines, ignore_index=True) if lines else None
    return result


def _text(value) -> str:
    """A table cell as text: missing (None, NaN) is empty."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _label(df) -> list[str]:
    return [f"{c} {n}" for c, n in zip(df["code"], df["name"])]


class Note(str):
    """A note of a gap analysis: English text (as written to every file), with its Vietnamese in ``vi``."""

    vi: str

    def __new__(cls, en: str, vi: str):
        note = super().__new__(cls, en)
        note.vi = vi
        return note

    def __getnewargs__(self):   # copy, deepcopy and pickle (multiprocessing, notebooks) rebuild both texts
        return str(self), self.vi


def failing_by_commune(villages, communes) -> pd.DataFrame:
    """Counted villages (or proxy settlements) without mobile broadband, grouped per commune: ``code``,
    ``name``, ``units`` and ``people`` (0 without a ``people`` column), most units first."""
    v = villages[villages["counted"] & ~villages["covered_mbb"].astype(bool)]
    people = v["people"] if "people" in v.columns else pd.Series(0.0, index=v.index)
    grouped = pd.DataFrame({"code": v["commune_code"].astype(str), "people": people.astype(float)}) \
        .groupby("code").agg(units=("people", "size"), people=("people", "sum")).reset_index()
    names = dict(zip(communes["code"].astype(str), communes["name"]))
    grouped.insert(1, "name", grouped["code"].map(names).fillna(""))
    return grouped.sort_values(["units", "code"], ascending=[False, True], ignore_index=True)


def _evaluate_targets(targets, communes, centres, villages, zones, population, cov, indicators, proxy=False):
    rows = []
    ind = {}
    if indicators is not None:
        ind = {str(r["target_id"]): r for _, r in indicators.iterrows()}
    for t in targets:
        row = dict(target_id=t.id, deadline=t.deadline, text_vi=t.text_vi, text_en=t.text_en, unit=t.unit,
                   value=np.nan, goal=t.goal, gap=np.nan, gap_unit="", met=None, failing_units="",
                   status="no data", _failing_communes=[])
        failing = None
        if t.measure == "centres_5g" and "5G" in cov:
            ok = centres["covered_5g"].astype(bool)
            failing = centres[~ok]
            row.update(value=100.0 * ok.mean(), gap_unit="centres")
            row["_failing_communes"] = list(failing["code"])
        elif t.measure == "villages_mbb" and villages is not None:
            v = villages[villages["counted"]]
            ok = v["covered_mbb"].astype(bool)
            failing = v[~ok]
            row.update(value=100.0 * ok.mean() if len(v) else np.nan, gap_unit="villages")
            row["_failing_communes"] = sorted(set(failing.get("commune_code", pd.Series(dtype=str)).dropna()))
        elif t.measure in ("zones_5g_site", "zones_iot", "zones_5g_iot") and zones is not None and len(zones):
            ok = {"zones_5g_site": zones["has_5g_site"], "zones_iot": zones["covered_iot"],
                  "zones_5g_iot": zones["covered_5g"] & zones["covered_iot"]}[t.measure]
            failing = zones[~ok]
            row.update(value=100.0 * ok.mean(), gap_unit="zones")
            needed = math.ceil(t.goal / 100.0 * len(zones) - 1e-9)
            row["gap"] = max(needed - int(ok.sum()), 0)
        elif t.measure == "population_5g" and population is not None and "5G" in cov:
            total = float(communes["population"].sum())
            covered = float((communes["population"] * communes["covered_pop_pct_5g"].fillna(0) / 100.0).sum())
            row.update(value=100.0 * covered / total if total else np.nan, gap_unit="people",
                       gap=round(max(t.goal / 100.0 * total - covered, 0.0)))
            failing = communes[(communes["population"] > 0) & (communes["covered_pop_pct_5g"] < t.goal)]
            row["_failing_communes"] = list(failing["code"])
        elif t.measure == "indicator" and t.id in ind:
            r = ind[t.id]
            value = float(r["value"])
            row.update(value=value, gap=max(t.goal - value, 0.0), gap_unit=t.unit,
                       failing_units=f"source: {_text(r.get('source'))} ({_text(r.get('date'))})")
        if np.isfinite(row["value"]):
            row["met"] = bool(row["value"] >= t.goal - 1e-9)
            row["status"] = "met" if row["met"] else "not met"
            row["value"] = round(float(row["value"]), 2)
            if failing is not None:
                if not np.isfinite(row["gap"]):
                    row["gap"] = len(failing)
                row["failing_units"] = "; ".join(_label(failing)) if "name" in failing.columns else \
                    "; ".join(failing["code"])
                if proxy and t.measure == "villages_mbb":   # thousands of proxy points: one line per commune
                    row["failing_units"] = "; ".join(
                        f"{r.code} {r.name}: {r.units} settlement{'s' * (r.units != 1)}, {r.people:,.0f} people"
                        for r in failing_by_commune(villages, communes).itertuples())
        rows.append(row)
    return rows

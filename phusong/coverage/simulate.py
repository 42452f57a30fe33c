"""``phusong simulate``: a run folder from a DEM and a site list."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from pyproj import Transformer
from rasterio.features import rasterize

from .._atomic import atomic_dir, check_writable, file_sha256
from ..data.terrain import dem_bounds_lonlat, load_terrain
from ..errors import InputError
from ..sites import read_sites
from .network import Settings, simulate_network
from .runfolder import write_cells, write_layers, write_run_json

log = logging.getLogger(__name__)



def demonstration_reasons(dems, sites_path) -> list[str]:
    """Why a run rests on synthetic or generated inputs: a DEM whose metadata says SYNTHETIC, or a
    site list whose leading comment says GENERATED / SYNTHETIC / DEMONSTRATION."""
    from ..data.terrain import synthetic_dem_names
    reasons = [f"{name}: synthetic terrain" for name in synthetic_dem_names(dems)]
    if Path(sites_path).suffix.lower() in (".csv", ".txt"):
        with open(sites_path, encoding="utf-8-sig", errors="replace") as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                if any(w in line.upper() for w in ("GENERATED", "SYNTHETIC", "DEMONSTRATION")):
                    reasons.append(f"{Path(sites_path).name}: generated sites")
                    break
    return reasons


def run_simulation(dems, sites_path, out_dir, settings: Settings, *, crs="EPSG:32648", res_m=30.0, area=None,
                   area_layer=None, demonstration: bool = False,
                   cache_dir=None, dask_address=None, overwrite=False, progress=True) -> dict:
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        check_writable(out_dir, overwrite)
    sites = read_sites(sites_path, dem_bounds_lonlat(dems))
    pad = settings.radius_km * 1000.0
    area_gdf = None
    if area is not None:
        area_gdf = _read_area(area, crs, area_layer)
        minx, miny, maxx, maxy = area_gdf.total_bounds
        bounds = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    else:
        x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(sites["lon"].to_numpy(),
                                                                               sites["lat"].to_numpy())
        bounds = (float(np.min(x)) - pad, float(np.min(y)) - pad, float(np.max(x)) + pad, float(np.max(y)) + pad)
    terrain = load_terrain(dems, crs, res_m, bounds=bounds, partial=True)
    grid = terrain.grid
    if area_gdf is not None:
        mask = rasterize(area_gdf.geometry, out_shape=(grid.height, grid.width), transform=grid.transform,
                         dtype=np.uint8).astype(bool)
        near = sites.geometry.to_crs(crs).within(area_gdf.union_all().buffer(pad)).to_numpy()
        sites = sites[near].reset_index(drop=True)
    else:
        mask = np.isfinite(terrain.array)
    if len(sites) == 0:
        raise InputError("no site within reach of the study area", path=sites_path)
    t1 = time.perf_counter()
    layers, cells, stats = simulate_network(terrain.array, grid, sites, settings, cache_dir=cache_dir,
                                            area_mask=mask, progress=progress, dask_address=dask_address)
    stats["simulate_s"] = round(time.perf_counter() - t1, 2)
    reasons = demonstration_reasons(dems, sites_path) + (["--demonstration"] if demonstration else [])
    if reasons:
        log.warning("demonstration run (%s): outputs are labelled as such", "; ".join(reasons))
    with atomic_dir(out_dir, overwrite) as tmp:
        write_layers(tmp, layers, grid, demonstration=bool(reasons))
        write_cells(tmp, cells)
        stats["wall_s"] = round(time.perf_counter() - t0, 2)
        inputs = {str(p): file_sha256(p) for p in [*map(Path, dems), Path(sites_path)] + ([Path(area)] if area else [])}
        write_run_json(tmp, {"command": "simulate", "inputs_sha256": inputs, "crs": str(grid.crs), "res_m": res_m,
                             "grid": {"width": grid.width, "height": grid.height, "bounds": grid.bounds},
                             "dask_address": dask_address, "settings": asdict(settings),
                             "demonstration": bool(reasons), "demonstration_reasons": reasons, **stats})
    return stats


def _read_area(path, crs, layer=None):
    import pyogrio

    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path=path)
    try:
        if layer is None:
            layer = pyogrio.list_layers(path)[0][0]
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:
        raise InputError(f"cannot read ({exc})", path=path) from None
    kinds = set(gdf.geom_type.dropna())
    if not kinds or not kinds <= {"Polygon", "MultiPolygon"}:
        raise InputError("the study area must be polygons", path=path)
    return gdf.to_crs(crs)

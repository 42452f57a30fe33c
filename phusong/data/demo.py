"""A deterministic demonstration region: SYNTHETIC terrain, communes, people and sites.

Nothing here is real. It exists so that ``phusong demo`` runs the whole pipeline
with no files and no network, and every output it feeds says so.
"""
from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from rasterio.features import rasterize

from .._raster import Grid, write_geotiff
from .._tables import write_csv

CRS = "EPSG:32648"
ORIGIN_X, ORIGIN_Y = 660_000.0, 2_440_000.0   # top-left, near Lạng Sơn city (UTM 48N)
WIDTH_KM, HEIGHT_KM = 48.0, 40.0
DEM_RES_M = 50.0
POP_RES_M = 500.0
N_COMMUNES = 65
LABEL = "SYNTHETIC DEMONSTRATION DATA - not real terrain, boundaries, population or sites"

_SYLLABLES = ["Bắc", "Nam", "Đông", "Tân", "Hòa", "Bình", "Yên", "Thạch", "Quang", "Hồng", "Vân", "Na",
              "Bản", "Khuôn", "Pò", "Lũng", "Thất", "Tràng", "Hữu", "Chi", "Xuân", "Lộc", "Minh", "Phú",
              "Thanh", "Sơn", "Định", "Mẫu", "Văn", "Quán", "Đồng", "Khê", "Lãng", "Tú", "Mai", "Điềm"]
OPERATORS = ("Viettel", "VNPT", "MobiFone")
_5G = {"Viettel": (2600.0, 100.0), "VNPT": (3700.0, 100.0), "MobiFone": (3500.0, 100.0)}


@dataclass
class DemoPaths:
    """Where :func:`generate` wrote the demonstration inputs."""
    dem: Path
    population: Path
    areas: Path        # GeoPackage with layers communes, commune_centres, villages, industrial_zones
    sites: Path


def _fractal(shape, beta, rng):
    noise = rng.standard_normal(shape)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    k = np.hypot(kx, ky)
    k[0, 0] = 1.0
    spec = np.fft.rfft2(noise) * k ** (-beta / 2.0)
    spec[0, 0] = 0.0
    field = np.fft.irfft2(spec, s=shape)
    return field / field.std()


def _names(rng, n):
    names = set()
    out = []
    while len(out) < n:
        a, b = rng.choice(len(_SYLLABLES), 2, replace=False)
        name = f"{_SYLLABLES[a]} {_SYLLABLES[b]}"
        if name not in names:
            names.add(name)
            out.append(name)
    return out


def generate(folder) -> DemoPaths:
    """Write the demonstration inputs into ``folder`` and return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20251)
    ny, nx = int(HEIGHT_KM * 1000 / DEM_RES_M), int(WIDTH_KM * 1000 / DEM_RES_M)
    grid = Grid(ny, nx, Affine(DEM_RES_M, 0, ORIGIN_X, 0, -DEM_RES_M, ORIGIN_Y), CRS)

    # Terrain: broad ridges plus fine fractal relief, 150–1,200 m, like Lạng Sơn's karst hills.
    broad = _fractal((ny, nx), 4.0, rng)
    fine = _fractal((ny, nx), 2.6, rng)
    dem = 520.0 + 190.0 * broad + 70.0 * fine
    dem = np.clip(dem, 150.0, None).astype(np.float32)

    # Province outline: a wobbly ellipse inside the DEM.
    t = np.linspace(0, 2 * np.pi, 181)[:-1]
    wobble = 1.0 + 0.08 * np.sin(3 * t + 1.0) + 0.05 * np.cos(5 * t + 0.3)
    cx, cy = ORIGIN_X + WIDTH_KM * 500, ORIGIN_Y - HEIGHT_KM * 500
    outline = shapely.Polygon(np.c_[cx + 21_000 * wobble * np.cos(t), cy + 17_000 * wobble * np.sin(t)])

    # Population: more people low down and near four towns.
    xs, ys = np.meshgrid(grid.xy(0, np.arange(nx))[0], grid.xy(np.arange(ny), 0)[1])
    towns = np.c_[cx + rng.uniform(-14e3, 14e3, 4), cy + rng.uniform(-10e3, 10e3, 4)]
    density = np.exp(-(dem - 150.0) / 180.0) * (0.3 + 0.7 * np.exp(rng.standard_normal((ny, nx)) * 0.5))
    for i, (tx, ty) in enumerate(towns):
        density += (3.0 if i == 0 else 1.5) * np.exp(-((xs - tx) ** 2 + (ys - ty) ** 2) / (2 * 2500.0**2))
    inside = rasterize([outline], out_shape=(ny, nx), transform=grid.transform, dtype=np.uint8).astype(bool)
    density[~inside] = 0.0
    factor = int(POP_RES_M / DEM_RES_M)
    people = density.reshape(ny // factor, factor, nx // factor, factor).sum(axis=(1, 3))
    people *= 260_000.0 / people.sum()
    pop_grid = Grid(ny // factor, nx // factor, Affine(POP_RES_M, 0, ORIGIN_X, 0, -POP_RES_M, ORIGIN_Y), CRS)

    # Communes: Voronoi cells of seeds drawn where people live, clipped to the outline.
    flat = (density / density.sum()).ravel()
    seeds_idx = rng.choice(flat.size, N_COMMUNES * 6, replace=False, p=flat)
    seeds = np.c_[xs.ravel()[seeds_idx], ys.ravel()[seeds_idx]]
    chosen = [0]  # farthest-point thinning keeps communes of similar size
    dmin = np.hypot(*(seeds - seeds[0]).T)
    for _ in range(N_COMMUNES - 1):
        j = int(np.argmax(dmin))
        chosen.append(j)
        dmin = np.minimum(dmin, np.hypot(*(seeds - seeds[j]).T))
    seeds = seeds[chosen]
    cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=outline.buffer(5000))
    polys = [shapely.intersection(c, outline) for c in shapely.get_parts(cells)]
    # Order communes by their seed so that codes are stable.
    order = [int(np.argmin([p.distance(shapely.Point(s)) for p in polys])) for s in seeds]
    polys = [polys[i] for i in order]
    names = _names(rng, N_COMMUNES)
    communes = gpd.GeoDataFrame({
        "code": [f"9{i + 1:04d}" for i in range(N_COMMUNES)],
        "name": [("Phường " if i < 4 else "Xã ") + n for i, n in enumerate(names)],
        "kind": ["phuong" if i < 4 else "xa" for i in range(N_COMMUNES)],
        "demonstration": True,
    }, geometry=polys, crs=CRS)

    # Commune centres: the most populated working cell of each commune.
    ids = rasterize(((g, i + 1) for i, g in enumerate(communes.geometry)), out_shape=(ny, nx),
                    transform=grid.transform, dtype=np.int32)
    centres = []
    for i in range(N_COMMUNES):
        r, c = np.unravel_index(np.argmax(np.where(ids == i + 1, density, -1.0)), (ny, nx))
        centres.append(shapely.Point(*grid.xy(r, c)))
    centre_gdf = gpd.GeoDataFrame({"code": communes["code"], "name": "UBND " + communes["name"],
                                   "demonstration": True}, geometry=centres, crs=CRS)

    # Villages: about six per commune, where people live; a few without grid power.
    v_idx = rng.choice(flat.size, N_COMMUNES * 6, replace=False, p=flat)
    vr, vc = np.unravel_index(v_idx, (ny, nx))
    vx, vy = grid.xy(vr, vc)
    village_commune = ids[vr, vc]
    keep = village_commune > 0
    villages = gpd.GeoDataFrame({
        "code": [f"V{i + 1:04d}" for i in range(int(keep.sum()))],
        "name": [f"Thôn {n}" for n in _names(rng, int(keep.sum()))],
        "commune_code": communes["code"].to_numpy()[village_commune[keep] - 1],
        "has_power": rng.random(int(keep.sum())) > 0.03,
        "demonstration": True,
    }, geometry=gpd.points_from_xy(vx[keep], vy[keep]), crs=CRS)

    # Industrial zones: rectangles near the towns.
    zones = []
    for i, (tx, ty) in enumerate(towns):
        area_ha = [320.0, 150.0, 80.0, 60.0][i]
        side = np.sqrt(area_ha * 1e4)
        zones.append(shapely.box(tx + 1500, ty - side / 2, tx + 1500 + side * 1.5, ty + side / 2 / 1.5 * 1.5))
    zone_gdf = gpd.GeoDataFrame({"code": ["KCN01", "CCN01", "CCN02", "CCN03"],
                                 "name": ["KCN Đồng Bành (demo)", "CCN Hợp Thành (demo)", "CCN Na Dương (demo)",
                                          "CCN Tân Thanh (demo)"],
                                 "kind": ["KCN", "CCN", "CCN", "CCN"], "demonstration": True},
                                geometry=zones, crs=CRS)

    # Sites: three operators, three-sector 4G sites where people are, 5G at the busiest.
    rows = []
    for op_i, operator in enumerate(OPERATORS):
        n_sites = [34, 28, 22][op_i]
        s_idx = rng.choice(flat.size, n_sites, replace=False, p=flat)
        sr, sc = np.unravel_index(s_idx, (ny, nx))
        sx, sy = grid.xy(sr, sc)
        busy = density[sr, sc]
        five_g = busy >= np.quantile(busy, 0.55)
        rot = rng.uniform(0, 120, n_sites)
        for j in range(n_sites):
            site_id = f"{operator[:3].upper()}{j + 1:03d}"
            height = float(rng.choice([25.0, 30.0, 36.0, 42.0]))
            for s in range(3):
                az = float((rot[j] + 120 * s) % 360)
                rows.append(dict(site_id=site_id, cell_id=f"{site_id}-L18-{s + 1}", x=sx[j], y=sy[j],
                                 technology="4G", frequency_mhz=1800.0, antenna_height_m=height,
                                 tx_power_dbm=46.0, operator=operator, bandwidth_mhz=20.0, azimuth_deg=round(az, 1),
                                 mechanical_tilt_deg=0.0, electrical_tilt_deg=3.0, beamwidth_h_deg=65.0,
                                 beamwidth_v_deg=8.0, antenna_gain_dbi=17.5, feeder_loss_db=0.5, status="existing"))
                if five_g[j]:
                    f, bw = _5G[operator]
                    rows.append(dict(site_id=site_id, cell_id=f"{site_id}-NR-{s + 1}", x=sx[j], y=sy[j],
                                     technology="5G", frequency_mhz=f, antenna_height_m=height, tx_power_dbm=50.0,
                                     operator=operator, bandwidth_mhz=bw, azimuth_deg=round(az, 1),
                                     mechanical_tilt_deg=0.0, electrical_tilt_deg=3.0, beamwidth_h_deg=65.0,
                                     beamwidth_v_deg=10.0, antenna_gain_dbi=24.0, feeder_loss_db=0.0,
                                     status="existing"))
    sites = pd.DataFrame(rows)
    lonlat = gpd.GeoSeries(gpd.points_from_xy(sites.pop("x"), sites.pop("y")), crs=CRS).to_crs("EPSG:4326")
    sites.insert(2, "lon", lonlat.x.round(6))
    sites.insert(3, "lat", lonlat.y.round(6))

    paths = DemoPaths(folder / "dem_demo.tif", folder / "population_demo.tif", folder / "areas_demo.gpkg",
                      folder / "sites_demo.csv")
    tags = {"DESCRIPTION": LABEL}
    write_geotiff(paths.dem, dem, grid, tags=tags, band_description="height (m), synthetic")
    write_geotiff(paths.population, people.astype(np.float32), pop_grid, tags=tags,
                  band_description="people per cell, synthetic")
    if paths.areas.exists():
        paths.areas.unlink()
    communes.to_file(paths.areas, layer="communes", engine="pyogrio")
    centre_gdf.to_file(paths.areas, layer="commune_centres", engine="pyogrio")
    villages.to_file(paths.areas, layer="villages", engine="pyogrio")
    zone_gdf.to_file(paths.areas, layer="industrial_zones", engine="pyogrio")
    write_csv(sites, paths.sites, comments=[f"{LABEL}: generated sites, not a real operator site list"])
    return paths


def demo_scenario_toml(inputs_rel: str = "inputs") -> str:
    """The demonstration study as a scenario file: its inputs, and only the settings it changes."""
    return f'''# phusong demonstration study: SYNTHETIC terrain, boundaries, population and generated sites.
# Every key not given here takes its default (see `phusong run --help` and the README).
[study]
name = "Demonstration region (synthetic)"
demonstration = true
resolution_m = 50

[inputs]
terrain = ["{inputs_rel}/dem_demo.tif"]
sites = "{inputs_rel}/sites_demo.csv"
population = "{inputs_rel}/population_demo.tif"
communes = {{ path = "{inputs_rel}/areas_demo.gpkg", layer = "communes" }}
centres = {{ path = "{inputs_rel}/areas_demo.gpkg", layer = "commune_centres" }}
villages = {{ path = "{inputs_rel}/areas_demo.gpkg", layer = "villages" }}
zones = {{ path = "{inputs_rel}/areas_demo.gpkg", layer = "industrial_zones" }}

[model]
radius_km = 10

[coverage]
technologies = ["4G", "5G"]
'''


@functools.cache
def example_inputs() -> DemoPaths:
    """The demonstration inputs in a temporary folder, generated once per process (for examples and notebooks).

    Examples
    --------
    >>> from phusong.data.demo import example_inputs
    >>> paths = example_inputs()
    >>> paths.dem.name, paths.sites.name
    ('dem_demo.tif', 'sites_demo.csv')
    """
    return generate(Path(tempfile.mkdtemp(prefix="phusong-example-")))

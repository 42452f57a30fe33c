"""Administrative units and points of interest from any OGR format (or CSV with lon/lat).

Every reader returns a GeoDataFrame in the working CRS with the input's id and
name fields kept as ``code`` and ``name`` (text, UTF-8, diacritics intact) plus
the input's other columns.
"""
from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
from rasterio.warp import Resampling, reproject

from .._raster import Grid, open_input
from .._tables import EXCEL_SUFFIXES, read_text_table
from ..errors import InputError

log = logging.getLogger(__name__)


_TRUTH = {"true": True, "false": False, "yes": True, "no": False, "có": True, "không": False}


def _read_any(path, layer=None) -> gpd.GeoDataFrame:
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path=path)
    if path.suffix.lower() in (".csv", ".txt", ".tsv", *EXCEL_SUFFIXES):
        df = read_text_table(path, what="table of points")
        for col in ("lon", "lat"):
            if col not in df.columns:
                raise InputError("a CSV of points needs lon and lat columns (WGS 84 degrees)", path=path, field=col)
        for col, limit in (("lon", 180.0), ("lat", 90.0)):
            values = pd.to_numeric(df[col], errors="coerce")
            bad = values.isna() | ~np.isfinite(values.fillna(0)) | (values.abs() > limit)
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(f"not a {'longitude' if col == 'lon' else 'latitude'} in degrees "
                                 f"({df[col].iloc[i]!r})", path=path, row=i + 1, field=col)
            df[col] = values
        for col in df.columns:  # numbers stay numbers (area_ha, people ...), yes/no stays yes/no; ids stay text
            if col in ("code", "name", "lon", "lat"):
                continue
            words = df[col].str.strip().str.lower()
            given = words != ""                       # an empty cell is a missing value
            if not given.any():
                continue
            if words[given].isin(list(_TRUTH)).all():
                df[col] = words.map(_TRUTH)
                continue
            converted = pd.to_numeric(words.where(given), errors="coerce")
            if converted[given].notna().all():
                df[col] = converted
        return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")
    try:
        if layer is None:  # the documented default, said once instead of pyogrio's warning
            names = [str(name) for name, _ in pyogrio.list_layers(path)]
            if len(names) > 1:   # (a warning: the first layer may not be the one meant)
                log.warning("%s: reading its first layer %r of %s; name the layer to read another (the "
                            "option's --...-layer, or layer = in the scenario)", path.name, names[0], ", ".join(names))
                layer = names[0]
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:
        raise InputError(f"cannot read{' layer ' + repr(layer) if layer else ''} ({exc})", path=path) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.isna().all():
        raise InputError("layer has no geometries", path=path)
    if gdf.crs is None:
        raise InputError("layer has no coordinate reference system", path=path)
    return gdf


def read_features(path, crs, *, layer=None, id_field="code", name_field="name",
                  geom_types=("Polygon", "MultiPolygon")) -> gpd.GeoDataFrame:
    """Read a layer, check its id/name fields and geometry types, reproject to ``crs``."""
    gdf = read_features_from(_read_any(path, layer), path, crs, id_field, name_field, geom_types)
    if gdf["code"].duplicated().any():
        dup = gdf["code"][gdf["code"].duplicated()].iloc[0]
        raise InputError(f"id {dup!r} appears more than once", path=path, field=id_field)
    return gdf


def read_communes(path, crs, layer=None, id_field="code", name_field="name") -> gpd.GeoDataFrame:
    """Commune polygons in ``crs`` with ``code`` and ``name`` (geometries made valid; ids unique).

    ``id_field`` and ``name_field`` name the input's fields that become ``code`` and ``name``.

    Examples
    --------
    >>> import phusong
    >>> from phusong.data.demo import example_inputs
    >>> communes = phusong.read_boundaries(example_inputs().areas, "EPSG:32648", layer="communes")
    >>> len(communes), communes.crs.to_epsg(), communes["name"].iloc[0].split()[0] in ("Xã", "Phường")
    (65, 32648, True)
    """
    gdf = read_features(path, crs, layer=layer, id_field=id_field, name_field=name_field)
    gdf["geometry"] = gdf.geometry.make_valid()
    return gdf


def read_points(path, crs, layer=None, id_field="code", name_field="name") -> gpd.GeoDataFrame:
    """Points (centres, villages) in ``crs`` with ``code`` and ``name``; CSV with lon/lat accepted.

    Examples
    --------
    >>> import phusong
    >>> from phusong.data.demo import example_inputs
    >>> centres = phusong.read_points(example_inputs().areas, "EPSG:32648", layer="commune_centres")
    >>> len(centres), set(centres.geom_type)
    (65, {'Point'})
    """
    return read_features(path, crs, layer=layer, id_field=id_field, name_field=name_field,
                         geom_types=("Point",))


def read_area(path, crs, layer=None) -> gpd.GeoDataFrame:
    """Study-area polygons in ``crs`` (any fields; their union is the area)."""
    gdf = _read_any(path, layer)
    kinds = set(gdf.geom_type.dropna())
    if not kinds or not kinds <= {"Polygon", "MultiPolygon"}:
        raise InputError(f"the study area must be polygons, found {', '.join(sorted(kinds)) or 'none'}"
                         f"{_other_layers(path)}", path=path)
    out = gdf.to_crs(crs)
    out["geometry"] = out.geometry.make_valid()
    return out.reset_index(drop=True)


DEFAULT_ZONE_AREA_HA = 50.0


def read_zones(path, crs, layer=None, id_field="code", name_field="name",
               area_field="area_ha", default_area_ha: float = DEFAULT_ZONE_AREA_HA) -> gpd.GeoDataFrame:
    """Industrial zones: polygons, or points with an area (a disc of that area, ``approximate``).

    A point zone whose area is missing gets ``default_area_ha`` with a warning.
    Zones without an id field are numbered Z01, Z02, ... in file order.

    Examples
    --------
    >>> import phusong
    >>> from phusong.data.demo import example_inputs
    >>> zones = phusong.read_zones(example_inputs().areas, "EPSG:32648", layer="industrial_zones")
    >>> set(zones.geom_type) <= {"Polygon", "MultiPolygon"}, "approximate" in zones
    (True, True)
    """
    gdf = _read_any(path, layer)
    if id_field not in gdf.columns and name_field in gdf.columns:
        gdf[id_field] = [f"Z{i + 1:02d}" for i in range(len(gdf))]
    gdf = read_features_from(gdf, path, crs, id_field, name_field,
                             ("Polygon", "MultiPolygon", "Point"))
    points = gdf.geom_type == "Point"
    gdf["approximate"] = points
    if points.any():
        if area_field not in gdf.columns:
            raise InputError(f"point zones need an area field {area_field!r} (hectares)", path=path, field=area_field)
        area_ha = pd.to_numeric(gdf[area_field], errors="coerce")
        negative = points & (area_ha <= 0)
        if negative.any():
            i = int(np.flatnonzero(negative.to_numpy())[0]) + 1
            raise InputError("area must be positive", path=path, row=i, field=area_field)
        unknown = points & area_ha.isna()
        for k in np.flatnonzero(unknown.to_numpy()):
            log.warning("%s: row %d (%s): no %s; using a disc of %g ha", path, k + 1, gdf["name"].iloc[k],
                        area_field, default_area_ha)
        area_ha = area_ha.fillna(default_area_ha)
        radius_m = np.sqrt(area_ha * 10_000.0 / np.pi)
        gdf.loc[points, "geometry"] = gdf.loc[points].geometry.buffer(radius_m[points], quad_segs=16)
    return gdf


GEOMETRY_KINDS = {"Point": "points", "MultiPoint": "points", "LineString": "lines", "MultiLineString": "lines",
                  "Polygon": "polygons", "MultiPolygon": "polygons"}


def read_priority(path, crs, layer=None) -> gpd.GeoDataFrame:
    """A layer of the plan's priority places in ``crs``: points, lines or polygons (one kind), any fields;
    ``attrs["kind"]`` says which."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".txt", ".tsv", *EXCEL_SUFFIXES):
        if layer:
            raise InputError(f"a {path.suffix} file has no layers (drop ':{layer}')", path=path)
    elif layer is None and path.exists():
        try:
            names = [str(n) for n, _ in pyogrio.list_layers(path)]
        except Exception:  # noqa: BLE001 - _read_any says why it cannot be read
            names = []
        if len(names) > 1:
            raise InputError(f"has {len(names)} layers ({', '.join(names)}): name one, as NAME=FILE:LAYER", path=path)
    gdf = _read_any(path, layer)
    kinds = set(gdf.geometry.dropna().geom_type.map(GEOMETRY_KINDS).fillna("other"))
    if len(kinds) != 1 or "other" in kinds:
        raise InputError(f"a priority layer holds one kind of geometry (points, lines or polygons), found "
                         f"{', '.join(sorted(set(gdf.geom_type.dropna())))}{_other_layers(path)}", path=path)
    out = gdf[gdf.geometry.notna()].to_crs(crs).reset_index(drop=True)
    out.attrs["kind"] = kinds.pop()
    return out


def _other_layers(path) -> str:
    """'; the file has layers a (Point), b (Polygon): …' for a file of several layers, else ''."""
    try:
        layers = pyogrio.list_layers(path)
    except Exception:  # a CSV, or a frame not read from a file
        return ""
    if len(layers) < 2:
        return ""
    listed = ", ".join(f"{name} ({kind})" for name, kind in layers)
    return f"; the file has layers {listed}: choose one with the input's layer option"


def read_features_from(gdf, path, crs, id_field, name_field, geom_types):
    """Check the id/name fields and geometry types of a read frame, reproject, name the fields code/name."""
    for fld in (id_field, name_field):
        if fld not in gdf.columns:
            fields = ", ".join(str(c) for c in gdf.columns if c != "geometry")
            raise InputError(f"field {fld!r} not found (fields: {fields}); say which field holds the "
                             f"{'id' if fld == id_field else 'name'}", path=path, field=fld,
                             argument="id_field" if fld == id_field else "name_field")
    kinds = set(gdf.geom_type.dropna())
    if not kinds <= set(geom_types):
        raise InputError(f"expected {' or '.join(geom_types)} geometries, found {', '.join(sorted(kinds))}"
                         f"{_other_layers(path)}", path=path)
    gdf = gdf.to_crs(crs).rename(columns={id_field: "code", name_field: "name"})
    gdf["code"] = gdf["code"].astype(str)
    gdf["name"] = gdf["name"].astype(str)
    return gdf.reset_index(drop=True)


def _open_raster(path):
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    try:
        src = open_input(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"not a raster GDAL can read ({exc})", path=path) from None
    if src.crs is None:
        src.close()
        raise InputError("raster has no coordinate reference system", path=path)
    return src


def _read_band(src, path) -> np.ndarray:
    try:
        return src.read(1)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read: the file is truncated or damaged ({exc})", path=path) from None


def read_population(path, grid: Grid) -> np.ndarray:
    """People per cell of ``grid`` (float32) from a people-per-cell raster in any CRS.

    GDAL's ``sum`` resampling conserves the total when the working grid is finer
    or coarser than the population grid.

    Examples
    --------
    >>> import phusong, rasterio
    >>> from phusong.data.demo import example_inputs
    >>> grid = phusong.load_terrain(example_inputs().dem, "EPSG:32648", 250.0).grid
    >>> people = phusong.read_population(example_inputs().population, grid)
    >>> with rasterio.open(example_inputs().population) as src:
    ...     total = float(src.read(1).sum())
    >>> abs(float(people.sum()) / total - 1) < 0.01      # the total is conserved
    True
    """
    with _open_raster(path) as src:
        data = _read_band(src, path).astype(np.float32)
        nodata = src.nodata
        if nodata is not None:
            data[data == nodata] = 0.0
        data[~np.isfinite(data) | (data < 0)] = 0.0
        out = np.zeros((grid.height, grid.width), dtype=np.float32)
        reproject(data, out, src_transform=src.transform, src_crs=src.crs, dst_transform=grid.transform,
                  dst_crs=grid.crs, resampling=Resampling.sum, src_nodata=None, dst_nodata=0)
        if data.sum() > 0 and out.sum() == 0:
            raise InputError(f"the population raster ({src.crs.to_string()}) does not overlap the study area "
                             f"({grid.crs.to_string()})", path=path)
    return out


def population_points(path, crs, min_people: float = 50.0) -> gpd.GeoDataFrame:
    """Settlement points (a proxy for villages): centres of the population raster's own cells
    holding at least ``min_people``, in ``crs``, with ``people``."""
    with _open_raster(path) as src:
        data = _read_band(src, path).astype(np.float64)
        if src.nodata is not None:
            data[data == src.nodata] = 0.0
        data[~np.isfinite(data)] = 0.0
        rows, cols = np.nonzero(data >= min_people)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols)
        pts = gpd.GeoDataFrame({"code": [f"S{i + 1:05d}" for i in range(len(rows))],
                                "people": data[rows, cols].round(1)},
                               geometry=gpd.points_from_xy(np.atleast_1d(xs), np.atleast_1d(ys)), crs=src.crs)
    pts["name"] = [f"settlement {c} (proxy)" for c in pts["code"]]
    return pts.to_crs(crs)

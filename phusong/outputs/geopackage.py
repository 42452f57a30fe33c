"""The gap analysis as a QGIS-ready GeoPackage: one layer per kind of unit, the targets table, and styles."""
from __future__ import annotations

import pandas as pd
import pyogrio

from .._atomic import atomic_path
from ..errors import InputError
from ..sites.schema import TECH_SLUG
from ..data.boundaries import GEOMETRY_KINDS
from .qgis_styles import categorised, default_styles, embed_styles, graduated

INT_FLAGS = ("covered_5g", "covered_mbb", "covered_iot", "has_5g_site", "counted", "has_power", "approximate",
             "centre_covered_5g")
PRIORITY_PREFIX = "priority_"


def _plain(gdf):
    """Booleans as integers (GeoPackage has no boolean type QGIS shows well)."""
    out = gdf.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].astype("int8")
    return out


def write_gpkg(path, result, overwrite: bool = True) -> None:
    """Layers: communes, commune_centres, villages|settlements, industrial_zones, sites,
    coverage_<tech>, priority_<name> (with the tables priority_summary and, for lines,
    priority_by_commune), the table targets, and QGIS's layer_styles. On demonstration inputs every
    layer and table carries a ``demonstration`` column saying why."""
    demonstration = "; ".join(result.demonstration)
    layers = [("communes", result.communes), ("commune_centres", result.centres)]
    if result.villages is not None:
        if result.villages_are_proxy:
            villages = result.villages.assign(proxy=1)
            layers.append(("settlements", villages))
        else:
            layers.append(("villages", result.villages))
    if result.zones is not None:
        layers.append(("industrial_zones", result.zones))
    if result.sites is not None:
        layers.append(("sites", result.sites))
    for tech, gdf in result.coverage.items():
        layers.append((f"coverage_{TECH_SLUG[tech]}", gdf))
    for name, gdf in result.priority.items():
        layers.append((PRIORITY_PREFIX + name, gdf))
    tables = [("priority_summary", result.priority_summary), ("priority_by_commune", result.priority_by_commune)]
    with atomic_path(path, overwrite) as tmp:
        for name, gdf in layers:
            gdf = _plain(gdf)
            if demonstration:
                gdf["demonstration"] = demonstration
            pyogrio.write_dataframe(gdf, tmp, layer=name, driver="GPKG", encoding="UTF-8",
                                    promote_to_multi=name.startswith("coverage_") or None)
        targets = result.targets.copy()
        targets["met"] = targets["met"].map({True: 1, False: 0})
        if demonstration:
            targets["demonstration"] = demonstration
        pyogrio.write_dataframe(targets, tmp, layer="targets", driver="GPKG")
        if result.credits:
            tables.append(("credits", pd.DataFrame({"credit": list(result.credits)})))
        for name, table in tables:
            if table is not None:
                pyogrio.write_dataframe(table.assign(demonstration=demonstration) if demonstration else table, tmp,
                                        layer=name, driver="GPKG")
        styles = default_styles([name for name, _ in layers])
        for name, gdf in result.priority.items():
            kind = GEOMETRY_KINDS.get(gdf.geom_type.iloc[0]) if len(gdf) else None
            if kind == "points":
                styles[PRIORITY_PREFIX + name] = categorised("covered_5g", yes="5G covered", no="no 5G")
            elif kind == "polygons":
                styles[PRIORITY_PREFIX + name] = graduated("covered_area_pct_5g")
            elif kind == "lines":
                styles[PRIORITY_PREFIX + name] = graduated("covered_pct_5g", line=True)
        embed_styles(tmp, styles)


def read_gpkg(path, result_type):
    """A ``result_type`` (:class:`~phusong.gaps.GapResult`) from a GeoPackage written by :func:`write_gpkg`."""
    try:
        layers = dict(pyogrio.list_layers(path))
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(f"cannot read as a GeoPackage ({exc})", path=path) from None
    if "communes" not in layers:
        raise InputError("no 'communes' layer (write it with `phusong gaps`)", path=path)

    def read(name):
        if name not in layers:
            return None
        gdf = pyogrio.read_dataframe(path, layer=name)
        for col in INT_FLAGS:
            if col in gdf.columns:
                gdf[col] = gdf[col].fillna(0).astype(bool)
        if "code" in gdf.columns:
            gdf["code"] = gdf["code"].astype(str)
        return gdf

    communes = read("communes")
    demonstration = ()
    if "demonstration" in communes.columns and communes["demonstration"].notna().any():
        value = str(communes["demonstration"].dropna().iloc[0])
        # (written as the reasons joined by "; ": read back as the reasons)
        demonstration = tuple(value.split("; ")) if value not in ("1", "1.0") else ("labelled a demonstration",)
    targets = pd.DataFrame(read("targets") if "targets" in layers else pd.DataFrame())
    if "met" in targets:
        targets["met"] = targets["met"].map({1: True, 0: False})
    proxy = "settlements" in layers
    coverage = {tech: read(f"coverage_{slug}") for tech, slug in TECH_SLUG.items() if f"coverage_{slug}" in layers}
    priority = {name[len(PRIORITY_PREFIX):]: read(name) for name in layers
                if name.startswith(PRIORITY_PREFIX) and name not in ("priority_summary", "priority_by_commune")}
    tables = {name: pd.DataFrame(read(name)) for name in ("priority_summary", "priority_by_commune", "credits")
              if name in layers}
    return result_type(communes, read("commune_centres"), read("settlements" if proxy else "villages"),
                       read("industrial_zones"), read("sites"), targets, proxy, [], coverage,
                       demonstration=demonstration, priority=priority,
                       priority_summary=tables.get("priority_summary"),
                       priority_by_commune=tables.get("priority_by_commune"),
                       credits=tuple(tables["credits"]["credit"]) if "credits" in tables else ())

"""ITU-R P.1812-6 (phusong) and ITU-R P.452-16 (pycraf) against measured trans-horizon loss, DBSG3 table C3_1.

phusong's .venv has no pycraf and pycraf's venv has no phusong, so each model runs in its own
interpreter and writes one CSV per link; a third call compares them (needs only pandas):

    .venv/bin/python benchmarks/bench_dbsg3.py --model p1812 --out /tmp/dbsg3_p1812.csv
    /tmp/pyc-venv/bin/python benchmarks/bench_dbsg3.py --model p452 --out /tmp/dbsg3_p452.csv
    .venv/bin/python benchmarks/bench_dbsg3.py --report /tmp/dbsg3_p1812.csv /tmp/dbsg3_p452.csv

Optional, in pycraf's interpreter: ``--maps [--out climate.csv]`` prints ΔN and N0 of the ITU-R
P.452-16 maps at ``--at LON LAT`` (default Lạng Sơn) and writes them at each link's path centre;
``--model ... --climate climate.csv`` then fills a link's missing N0/ΔN from that file (without it,
such links are skipped). Inputs: the link's ΔN and N0, the path-centre latitude, no clutter,
radio-climatic zones from the profile (it carries no zone codes): sea where the ground is at or below
0 m, inland elsewhere, the same sea fraction, longest land section and coast distances for both
models (``--inland`` treats every path as inland instead), horizontal polarisation (the table gives
none); P.452 also gets the table's antenna gains (0 dBi where missing), 20 °C and 1013 hPa.
Error = predicted − measured basic transmission loss (dB) at 50, 10 and 1 % of time; std is the
sample standard deviation. Needs ../shared (or PHUSONG_SHARED). Not part of the test suite.
Cite "ITU-R Study Group 3 databank DBSG3" with these data.
"""
from __future__ import annotations

import argparse
import csv
import os
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PHUSONG_SHARED", ROOT.parent / "shared")) / "reference" / "dbsg3_c3_1"
TIME_PCTS = (50, 10, 1)                          # columns TLT50, TLT10, TLT1
MAX_LENGTH_MISMATCH = 0.03                       # profile end vs the table's D, relative
LANG_SON_LON_LAT = (106.76, 21.85)
TEMPERATURE_K, PRESSURE_HPA = 293.15, 1013.0     # P.452 gaseous absorption; as the SG3 C3_1 script
FIELDS = ["station", "f_ghz", "d_km", "status", "climate", "gains_known", "end_gap_m", "out_of_range", "refused",
          "seconds", *(f"meas_{p}" for p in TIME_PCTS), *(f"pred_{p}" for p in TIME_PCTS)]


def number(text: str) -> float:
    return float(text) if text.strip() else float("nan")


def lon180(lon_deg: float) -> float:
    return (lon_deg + 180.0) % 360.0 - 180.0      # the table gives 0–360° E, pycraf wants ±180°


def path_centre(row) -> tuple[float, float]:
    """(lon, lat) in degrees halfway between the ends; the step is wrapped, as many UK links cross 0° E."""
    lon_t, dlon = float(row["TX_LONG"]), lon180(float(row["RX_LONG"]) - float(row["TX_LONG"]))
    return lon180(lon_t + 0.5 * dlon), 0.5 * (float(row["TX_LAT"]) + float(row["RX_LAT"]))


def read_profile(zf: zipfile.ZipFile, pfl_name: str):
    """(d_km, h_m) of one profile, or None if the zip has none. Seven header lines come first (Tx name,
    country / lat, lon, gain / ground height, antenna height / the same three for Rx / frequency MHz);
    then rows d_km, h_m, lat, lon, DEM spacing in arc-seconds. That fifth column (3 or 30) is not a
    radio-climatic zone, though 3 would read as "coastal land" in P.1812's codes. Lines end in CR or LF."""
    try:
        text = zf.read("c31/" + pfl_name.replace(".PFL", ".csv")).decode("ascii")
    except KeyError:
        return None
    rows = np.array([[float(v) for v in line.split(",")[:2]] for line in text.splitlines()[7:] if line.strip()])
    return rows[:, 0], rows[:, 1]


def sea_geometry(d_km, h_m, inland_only: bool) -> dict:
    """Zones (1 sea, 4 inland) of the profile points and what P.452/P.1812 derive from them: sea fraction
    ω, longest land section d_tm (= d_lm: no coastal zone here), distance from each end to the coast
    (500 km, the Recommendations' default, when the path never meets the sea). Sections extend half a
    sample interval into the next zone, as in the ITU-R SG3 implementations."""
    zone = np.where((h_m <= 0.0) & (not inland_only), 1, 4)
    runs = {1: [], 4: []}
    start = 0
    for i in range(1, len(zone) + 1):
        if i == len(zone) or zone[i] != zone[start]:
            stop = i - 1
            length = d_km[stop] - d_km[start]
            length += 0.5 * (d_km[stop + 1] - d_km[stop]) if stop + 1 < len(zone) else 0.0
            length += 0.5 * (d_km[start] - d_km[start - 1]) if start > 0 else 0.0
            runs[int(zone[start])].append(length)
            start = i
    sea = np.flatnonzero(zone == 1)
    total = d_km[-1] - d_km[0]
    return {"zone": zone, "omega": sum(runs[1]) / total, "d_tm": max(runs[4], default=0.0),
            "d_ct": float(d_km[sea[0]]) if sea.size else 500.0,
            "d_cr": float(total - d_km[sea[-1]]) if sea.size else 500.0}


def prepared_links(data_dir: Path, climate_csv: Path | None, inland_only: bool = False):
    """Every row of links.csv as (fields, profile); profile is None and fields["status"] says why for a skip.
    The same rules run for both models, so both predict exactly the same links."""
    climate = {}
    if climate_csv:
        with open(climate_csv, newline="") as f:
            climate = {r["station"]: (float(r["delta_n"]), float(r["n0"])) for r in csv.DictReader(f)}
    with open(data_dir / "links.csv", newline="") as f, zipfile.ZipFile(data_dir / "profiles_csv.zip") as zf:
        for row in csv.DictReader(f):
            link = {"station": row["STATION_NO"], "f_ghz": float(row["F"]), "d_km": float(row["D"]),
                    "gains_known": bool(row["TX_GN"].strip() and row["RX_GN"].strip()), "row": row}
            link.update({f"meas_{p}": number(row[f"TLT{p}"]) for p in TIME_PCTS})
            profile = read_profile(zf, row["PATH_PROF"])
            dn, n0 = number(row["DELTA_N"]), number(row["N0"])
            link["climate"] = "table"
            if (np.isnan(dn) or np.isnan(n0)) and row["STATION_NO"] in climate:
                map_dn, map_n0 = climate[row["STATION_NO"]]
                dn, n0, link["climate"] = (map_dn if np.isnan(dn) else dn), (map_n0 if np.isnan(n0) else n0), "map"
            link["delta_n"], link["n0"] = dn, n0
            if profile is not None:     # diagnosis only, not a skip rule: the DEM's ground at the ends vs *_HASL
                gaps = [abs(z - number(row[k])) for z, k in ((profile[1][0], "TX_HASL"), (profile[1][-1], "RX_HASL"))]
                link["end_gap_m"] = max((g for g in gaps if not np.isnan(g)), default=float("nan"))
            if profile is None:
                link["status"] = "no profile (no coordinates)"
            elif (profile[0][0] != 0.0 or np.any(np.diff(profile[0]) <= 0)
                  or abs(profile[0][-1] / link["d_km"] - 1.0) > MAX_LENGTH_MISMATCH):
                link["status"] = "profile inconsistent with D"
            elif not (row["TX_AHAG"].strip() and row["RX_AHAG"].strip()):
                link["status"] = "antenna height missing"
            elif all(np.isnan(link[f"meas_{p}"]) for p in TIME_PCTS):
                link["status"] = "no measurement at 50/10/1 %"
            elif np.isnan(dn) or np.isnan(n0):
                link["status"] = "ΔN or N0 missing"
            else:
                link["status"] = "ok"
            if link["status"] == "ok":
                link["sea"] = sea_geometry(*profile, inland_only)
            yield link, (profile if link["status"] == "ok" else None)


def p1812_predictor():
    from phusong.propagation.p1812 import p1812_loss

    def predict(link, d_km, h_m, time_pct):
        row, sea = link["row"], link["sea"]
        return p1812_loss(d_km, h_m, float(row["TX_AHAG"]), float(row["RX_AHAG"]), 1000.0 * link["f_ghz"],
                          time_pct=time_pct, delta_n=link["delta_n"], n0=link["n0"], zone=sea["zone"],
                          tx_coast_km=sea["d_ct"], rx_coast_km=sea["d_cr"],
                          centre_latitude_deg=path_centre(row)[1]).loss_db
    return predict


def p452_predictor():
    import astropy.units as u
    from pycraf import conversions as cnv
    from pycraf import pathprof

    def predict(link, d_km, h_m, time_pct):
        row = link["row"]       # gains enter only the troposcatter aperture-to-medium coupling loss, eq. (45)
        g_t, g_r = (0.0 if np.isnan(g) else g for g in (number(row["TX_GN"]), number(row["RX_GN"])))
        prop = pathprof.PathProp(
            link["f_ghz"] * u.GHz, TEMPERATURE_K * u.K, PRESSURE_HPA * u.hPa,
            lon180(float(row["TX_LONG"])) * u.deg, float(row["TX_LAT"]) * u.deg,
            lon180(float(row["RX_LONG"])) * u.deg, float(row["RX_LAT"]) * u.deg,
            float(row["TX_AHAG"]) * u.m, float(row["RX_AHAG"]) * u.m,
            50 * u.m, time_pct * u.percent,           # the step only matters for SRTM look-ups, not used here
            omega=100.0 * link["sea"]["omega"] * u.percent, d_tm=link["sea"]["d_tm"] * u.km,
            d_lm=link["sea"]["d_tm"] * u.km, d_ct=link["sea"]["d_ct"] * u.km, d_cr=link["sea"]["d_cr"] * u.km,
            polarization=0, version=16, delta_N=link["delta_n"] * cnv.dimless / u.km, N0=link["n0"] * cnv.dimless,
            hprof_dists=d_km * u.km, hprof_heights=h_m * u.m, hprof_bearing=0 * u.deg, hprof_backbearing=0 * u.deg)
        return float(pathprof.loss_complete(prop, G_t=g_t * cnv.dBi, G_r=g_r * cnv.dBi)[4].to_value(cnv.dB))
    return predict


def run_model(args) -> None:
    predict = p1812_predictor() if args.model == "p1812" else p452_predictor()
    links = list(prepared_links(args.data, args.climate, args.inland))
    first = next((link, prof) for link, prof in links if prof is not None)
    with warnings.catch_warnings():                   # warm-up: imports, map loading and JIT stay out of the timing
        warnings.simplefilter("ignore")
        predict(first[0], *first[1], 50)
    with open(args.out, "w", newline="") as f:
        out = csv.DictWriter(f, FIELDS, extrasaction="ignore")
        out.writeheader()
        for link, profile in links:
            if profile is not None:
                with warnings.catch_warnings(record=True) as caught:
                    # phusong warns once per message by default; "always" lets every link count its own
                    warnings.simplefilter("always")
                    start = time.perf_counter()
                    try:
                        link.update({f"pred_{p}": predict(link, *profile, p) for p in TIME_PCTS})
                    except ValueError as exc:        # pycraf refuses inputs outside its own ranges (0.1–100 GHz)
                        link["refused"] = str(exc)
                    link["seconds"] = time.perf_counter() - start
                # matched by name (pycraf's interpreter has no phusong); "ITU-R P.1812-6: frequency outside its
                # validity range 30–6000 MHz; …" -> "frequency outside 30–6000 MHz"
                reasons = {str(w.message).split(": ", 1)[-1].split(";")[0].replace("its validity range ", "")
                           for w in caught if type(w.message).__name__ == "ValidityWarning"}
                link["out_of_range"] = "; ".join(sorted(reasons))
            out.writerow(link)
    print(f"{args.model}: {sum(p is not None for _, p in links)} links predicted -> {args.out}")


def run_maps(args) -> None:
    import astropy.units as u
    from pycraf import pathprof

    lon, lat = args.at
    dn, n0 = pathprof.deltaN_N0_from_map(lon * u.deg, lat * u.deg)
    print("| ITU-R P.452-16 maps (pycraf, bilinear) | lon (°E) | lat (°N) | ΔN (N-units/km) | N0 (N-units) |\n"
          f"|---|---|---|---|---|\n| point | {lon:g} | {lat:g} | {dn.value:.2f} | {n0.value:.2f} |")
    if args.out:
        with open(args.data / "links.csv", newline="") as f, open(args.out, "w", newline="") as g:
            out = csv.writer(g)
            out.writerow(["station", "delta_n", "n0"])
            for row in (r for r in csv.DictReader(f) if r["TX_LAT"].strip() and r["RX_LAT"].strip()):
                dn, n0 = pathprof.deltaN_N0_from_map(*(v * u.deg for v in path_centre(row)))
                out.writerow([row["STATION_NO"], f"{dn.value:.3f}", f"{n0.value:.3f}"])


def stats_cells(err) -> list[str]:
    """Mean, sample standard deviation and RMS of the errors (dB), '–' where undefined."""
    err = err.dropna()
    return [f"{err.mean():+.1f}" if err.size else "–", f"{err.std(ddof=1):.1f}" if err.size > 1 else "–",
            f"{np.sqrt((err ** 2).mean()):.1f}" if err.size else "–"]


def run_report(args) -> None:
    import pandas as pd

    a, b = (pd.read_csv(path, dtype={"station": str}).set_index("station") for path in args.report)
    if not a.index.equals(b.index) or not a["status"].equals(b["status"]):
        raise SystemExit("the two CSVs do not hold the same links: rerun both models with the same inputs")
    print(f"### DBSG3 C3_1: {len(a)} links in the table\n\n| links | count |\n|---|---|")
    for status, count in a.loc[a["status"] != "ok", "status"].value_counts().items():
        print(f"| skipped: {status} | {count} |")
    for name, df in (("P.1812", a), ("P.452", b)):
        for reason, count in df["refused"].dropna().value_counts().items():
            print(f"| skipped: {name} refused the input ({reason}) | {count} |")
    used = (a["status"] == "ok") & a["refused"].isna() & b["refused"].isna()
    print(f"| **used (both models, same links)** | **{used.sum()}** |")
    a, b = a[used], b[used]
    oor = a["out_of_range"].fillna("")
    print(f"| used, ΔN/N0 from the table / N0 filled from the maps | {(a['climate'] == 'table').sum()} / "
          f"{(a['climate'] == 'map').sum()} |")
    print(f"| used, outside P.1812 validity (ValidityWarning) | {(oor != '').sum()} |")
    for reason, count in oor[oor != ""].value_counts().items():
        print(f"| … {reason} | {count} |")
    print(f"| used, P.452 antenna gains from the table / 0 dBi | {a['gains_known'].sum()} / {(~a['gains_known']).sum()} |")
    print(f"| used, a profile end ≥ 50 m off the table's ground height (*_HASL) | {(a['end_gap_m'] >= 50).sum()} |")
    d_band = pd.cut(a["d_km"], [0, 100, 200, 400, np.inf], right=False,
                    labels=["d < 100 km", "100–200 km", "200–400 km", "d ≥ 400 km"])
    f_band = pd.cut(a["f_ghz"], [0, 0.3, 1, 3, np.inf], right=False,
                    labels=["f < 0.3 GHz", "0.3–1 GHz", "1–3 GHz", "f ≥ 3 GHz"])
    groups = [("all", pd.Series(True, index=a.index)), ("ΔN/N0 from the table", a["climate"] == "table"),
              ("N0 from the maps", a["climate"] == "map"), ("inside P.1812 validity", oor == ""),
              ("outside P.1812 validity", oor != "")]
    groups += [(str(k), d_band == k) for k in d_band.cat.categories]
    groups += [(str(k), f_band == k) for k in f_band.cat.categories]
    for p in TIME_PCTS:
        print(f"\n### Error (dB) at {p} % of time: predicted − measured\n")
        print("| links | n | P.1812 mean | P.1812 std | P.1812 RMS | P.452 mean | P.452 std | P.452 RMS |")
        print("|---|---|---|---|---|---|---|---|")
        for name, mask in groups:
            meas = a.loc[mask, f"meas_{p}"]
            cells = stats_cells(a.loc[mask, f"pred_{p}"] - meas) + stats_cells(b.loc[mask, f"pred_{p}"] - meas)
            print(f"| {name} | {meas.notna().sum()} | " + " | ".join(cells) + " |")
    rows = [(abs(a.at[s, f"pred_{p}"] - a.at[s, f"meas_{p}"]), s, p) for s in a.index for p in TIME_PCTS
            if not np.isnan(a.at[s, f"meas_{p}"])]
    print("\n### Largest P.1812 errors\n\n| station | f (GHz) | d (km) | time % | measured (dB) | P.1812 − meas. "
          "| P.452 − meas. | profile end vs *_HASL (m) | P.1812 validity |\n|---|---|---|---|---|---|---|---|---|")
    for _, s, p in sorted(rows, reverse=True)[:args.worst]:
        meas = a.at[s, f"meas_{p}"]
        print(f"| {s} | {a.at[s, 'f_ghz']:g} | {a.at[s, 'd_km']:g} | {p} | {meas:.1f} | "
              f"{a.at[s, f'pred_{p}'] - meas:+.1f} | {b.at[s, f'pred_{p}'] - meas:+.1f} | {a.at[s, 'end_gap_m']:.0f} | "
              f"{oor[s] or 'inside'} |")
    print("\n### Wall time per link (50, 10 and 1 % of time, one process, warm)\n\n"
          "| model | links | total (s) | mean (ms/link) | median (ms/link) |\n|---|---|---|---|---|")
    for name, t in (("P.1812-6 (phusong)", a["seconds"]), ("P.452-16 (pycraf 2.1)", b["seconds"])):
        print(f"| {name} | {t.size} | {t.sum():.2f} | {1e3 * t.mean():.1f} | {1e3 * t.median():.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--model", choices=["p1812", "p452"], help="predict every usable link with this model")
    mode.add_argument("--report", nargs=2, metavar=("P1812_CSV", "P452_CSV"), help="print the Markdown comparison")
    mode.add_argument("--maps", action="store_true", help="ΔN/N0 from pycraf's ITU-R maps (see --at, --out)")
    ap.add_argument("--out", type=Path, help="per-link CSV written by --model (required) or --maps (optional)")
    ap.add_argument("--climate", type=Path, help="CSV from --maps --out: fills links' missing ΔN/N0")
    ap.add_argument("--inland", action="store_true", help="every path inland (no sea from the profile heights)")
    ap.add_argument("--at", type=float, nargs=2, metavar=("LON_DEG", "LAT_DEG"), default=LANG_SON_LON_LAT)
    ap.add_argument("--worst", type=int, default=12, help="rows in the largest-error table")
    ap.add_argument("--data", type=Path, default=DATA, help="the dbsg3_c3_1 folder")
    args = ap.parse_args()
    if args.model and not args.out:
        ap.error("--model needs --out")
    if args.model:
        run_model(args)
    elif args.maps:
        run_maps(args)
    else:
        run_report(args)


if __name__ == "__main__":
    main()

"""`phusong plan` end to end: its claims checked by independent `simulate` + `gaps` runs on sites_after.csv,
nothing unreachable hidden, sharing preferred to a new tower, bad arguments refused with exit code 2."""
import json

import numpy as np
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from phusong.cli import cli


def _invoke(args, code=0):
    result = CliRunner().invoke(cli, [*args, "-q"])
    assert result.exit_code == code, (args, result.output)
    return result


@pytest.fixture(scope="module")
def study(demo_inputs, tmp_path_factory):
    """The demo region at 200 m, 4 km radius: a run folder and its gap analysis."""
    tmp = tmp_path_factory.mktemp("plan")
    d = demo_inputs
    cache = tmp / "cache"
    _invoke(["simulate", "--dem", str(d.dem), "--sites", str(d.sites), "--area", str(d.areas), "--area-layer",
             "communes", "--resolution-m", "200", "--radius-km", "4", "--out", str(tmp / "run"),
             "--cache-dir", str(cache)])
    _invoke(["gaps", "--run", str(tmp / "run"), "--communes", str(d.areas), "--communes-layer", "communes",
             "--centres", str(d.areas), "--centres-layer", "commune_centres", "--villages", str(d.areas),
             "--villages-layer", "villages", "--zones", str(d.areas), "--zones-layer", "industrial_zones",
             "--sites", str(d.sites), "--population", str(d.population), "--out", str(tmp / "gaps.gpkg")])
    return tmp


def _plan(study, d, out, *extra, code=0):
    return _invoke(["plan", "--run", str(study / "run"), "--gaps", str(study / "gaps.gpkg"), "--dem", str(d.dem),
                    "--sites", str(d.sites), "--population", str(d.population), "--out", str(out),
                    "--cache-dir", str(study / "cache"), "--milp-time-limit-s", "20", *extra], code)


@pytest.fixture(scope="module")
def planned(study, demo_inputs):
    out = study / "plan"
    _plan(study, demo_inputs, out, "--targets", "T25-5G-CENTRES,T25-MBB-VILLAGES,T25-IZ-5G-BTS")
    return out


def _targets(gpkg):
    t = pyogrio.read_dataframe(gpkg, layer="targets")
    return t.set_index("target_id")


def test_plan_reuses_the_runs_terrain_passes_and_its_own(planned):
    """The run's passes serve the plan (same study area, same cache key), and the verification of the network
    after the plan finds every pass in the cache: the existing sites' from the run, the chosen candidates'
    from the selection."""
    timings = json.loads((planned / "plan.json").read_text(encoding="utf-8"))["timings"]
    assert timings["verification_passes"] > 0
    assert timings["verification_cache_hits"] == timings["verification_passes"]


def test_plan_claims_hold_in_an_independent_rerun(study, planned, demo_inputs):
    d = demo_inputs
    plan = json.loads((planned / "plan.json").read_text(encoding="utf-8"))
    # simulate + gaps on sites_after.csv, as any user would, in fresh folders and without the cache
    _invoke(["simulate", "--dem", str(d.dem), "--sites", str(planned / "sites_after.csv"), "--area", str(d.areas),
             "--area-layer", "communes", "--resolution-m", "200", "--radius-km", "4", "--out", str(study / "after"),
             "--cache-dir", str(study / "fresh-cache")])
    _invoke(["gaps", "--run", str(study / "after"), "--communes", str(d.areas), "--communes-layer", "communes",
             "--centres", str(d.areas), "--centres-layer", "commune_centres", "--villages", str(d.areas),
             "--villages-layer", "villages", "--zones", str(d.areas), "--zones-layer", "industrial_zones",
             "--sites", str(planned / "sites_after.csv"), "--population", str(d.population),
             "--out", str(study / "after.gpkg")])
    rerun = _targets(study / "after.gpkg")
    before = _targets(study / "gaps.gpkg")
    for t in plan["targets"]:
        tid = t["target_id"]
        assert t["before"] == pytest.approx(before.loc[tid, "value"], abs=0.01)
        assert t["after"] == pytest.approx(rerun.loc[tid, "value"], abs=0.01), tid
        assert (t["status_after"] == "met") == (rerun.loc[tid, "status"] == "met")
    claims = {t["target_id"]: t for t in plan["targets"]}
    # the centres target is fully reachable on this terrain (a candidate stands at every uncovered centre)
    assert claims["T25-5G-CENTRES"]["status_before"] == "not met"
    assert rerun.loc["T25-5G-CENTRES", "status"] == "met"
    # every reachable village is reached: the rest are listed as unreachable, one row each
    unreachable = pyogrio.read_dataframe(planned / "plan.gpkg", layer="unreachable")
    villages = pyogrio.read_dataframe(study / "after.gpkg", layer="villages")
    missing = set(villages.loc[(villages["covered_mbb"] == 0) & (villages["counted"] == 1), "code"])
    listed = set(unreachable.loc[unreachable["target_id"] == "T25-MBB-VILLAGES", "unit_id"])
    assert missing == listed


def test_plan_outputs(planned):
    layers = dict(pyogrio.list_layers(planned / "plan.gpkg"))
    assert {"actions", "candidates", "unreachable", "communes", "targets", "curve"} <= set(layers)
    actions = pyogrio.read_dataframe(planned / "plan.gpkg", layer="actions")
    cands = pyogrio.read_dataframe(planned / "plan.gpkg", layer="candidates")
    plan = json.loads((planned / "plan.json").read_text(encoding="utf-8"))
    assert len(actions) == int(cands["selected"].sum()) == plan["actions"]
    assert actions["cost"].sum() == pytest.approx(plan["total_cost"])
    assert list(actions["order"]) == list(range(1, len(actions) + 1))
    assert actions["cumulative_cost"].is_monotonic_increasing
    assert set(cands["action"]) >= {"upgrade", "new"}
    assert (actions["demonstration"].str.contains("synthetic terrain")).all()
    # the cost curve starts at the before values and ends at the selection's after values
    curve = pyogrio.read_dataframe(planned / "plan.gpkg", layer="curve")
    assert curve["cumulative_cost"].iloc[-1] == pytest.approx(plan["total_cost"])
    # sites_after.csv: the old rows unchanged, the plan's cells added as planned, still labelled
    after = (planned / "sites_after.csv").read_text(encoding="utf-8-sig")
    assert after.startswith("# GENERATED")
    table = pd.read_csv(planned / "sites_after.csv", comment="#")
    assert (table["status"] == "planned").sum() == actions["sectors"].sum()
    assert plan["gap_pct"] is not None and 0 <= plan["gap_pct"] <= 100
    md = (planned / "plan.md").read_text(encoding="utf-8")
    assert "DEMONSTRATION" in md and "Optimality gap" in md
    html = (planned / "plan.html").read_text(encoding="utf-8")
    assert "<svg" in html and "DEMONSTRATION" in html


def test_sharing_is_chosen_over_a_new_tower(study, demo_inputs, tmp_path):
    """An operator without masts: every other operator's mast can be shared, or a new tower built on the same
    spot (a candidates file); both cover the same demand, so only shares may be chosen."""
    d = demo_inputs
    sites = pd.read_csv(d.sites, comment="#")
    masts = sites.groupby("site_id").first().reset_index()
    rows = []
    for m in masts.itertuples(index=False):
        for k, az in enumerate((0.0, 120.0, 240.0)):
            rows.append(dict(site_id=f"T-{m.site_id}", cell_id=f"T-{m.site_id}-{k}", lon=m.lon, lat=m.lat,
                             technology="5G", frequency_mhz=2600, antenna_height_m=m.antenna_height_m,
                             tx_power_dbm=50, operator="Newco", bandwidth_mhz=100, azimuth_deg=az,
                             electrical_tilt_deg=3, beamwidth_h_deg=65, beamwidth_v_deg=10, antenna_gain_dbi=24,
                             feeder_loss_db=0, status="candidate"))
    pd.DataFrame(rows).to_csv(tmp_path / "towers.csv", index=False)
    out = tmp_path / "plan"
    _plan(study, d, out, "--operator", "Newco", "--candidates", str(tmp_path / "towers.csv"), "--targets",
          "T25-5G-CENTRES,T25-MBB-VILLAGES")
    actions = pyogrio.read_dataframe(out / "plan.gpkg", layer="actions")
    cands = pyogrio.read_dataframe(out / "plan.gpkg", layer="candidates")
    assert set(cands["action"]) == {"share", "new"}
    assert len(actions) > 0 and set(actions["action"]) == {"share"}


def test_budget_limits_the_plan(study, demo_inputs, planned, tmp_path):
    full = json.loads((planned / "plan.json").read_text(encoding="utf-8"))
    budget = full["total_cost"] / 3
    out = tmp_path / "plan"
    _plan(study, demo_inputs, out, "--targets", "T25-5G-CENTRES,T25-MBB-VILLAGES,T25-IZ-5G-BTS", "--budget",
          str(budget))
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert 0 < plan["total_cost"] <= budget
    assert plan["budget_mode"] is True


@pytest.mark.parametrize("case", ["target", "cost", "outside", "dem", "count"])
def test_bad_plan_arguments_exit_2_with_one_line(study, demo_inputs, tmp_path, case):
    d = demo_inputs
    extra = []
    if case == "count":   # counts are whole numbers, and --help says so (INTEGER RANGE)
        extra = ["--max-sites", "2.5"]
        expect = "Invalid value for '--max-sites': '2.5' is not a valid integer range"
    elif case == "target":
        extra = ["--targets", "T25-5G-CENTERS"]
        expect = "unknown target id 'T25-5G-CENTERS'"
    elif case == "cost":
        (tmp_path / "costs.toml").write_text("new_tower = -5\n", encoding="utf-8")
        extra = ["--costs", str(tmp_path / "costs.toml")]
        expect = "costs.toml: column new_tower: must be a number of zero or more"
    elif case == "outside":
        pd.DataFrame([dict(site_id="X", cell_id="X-1", lon=105.0, lat=20.0, technology="5G", frequency_mhz=2600,
                           antenna_height_m=30, tx_power_dbm=50)]).to_csv(tmp_path / "far.csv", index=False)
        extra = ["--candidates", str(tmp_path / "far.csv")]
        expect = "far.csv: row 1, column lon,lat: candidate outside the run's terrain grid"
    else:
        import rasterio
        with rasterio.open(d.dem) as src:
            profile, data = src.profile, src.read(1)[:100, :100]
            profile.update(width=100, height=100)
        with rasterio.open(tmp_path / "small.tif", "w", **profile) as dst:
            dst.write(data, 1)
        result = _invoke(["plan", "--run", str(study / "run"), "--gaps", str(study / "gaps.gpkg"), "--dem",
                          str(tmp_path / "small.tif"), "--sites", str(d.sites), "--out", str(tmp_path / "p")], 2)
        assert "the DEM does not give the run's grid" in result.output
        assert not (tmp_path / "p").exists()
        return
    result = _plan(study, d, tmp_path / "p", *extra, code=2)
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and expect in lines[0], result.output
    assert not (tmp_path / "p").exists()


def test_hostile_names_are_escaped_in_the_plan(study, demo_inputs, tmp_path):
    d = demo_inputs
    payload = "<img src=x onerror=alert(1)>"
    sites = pd.read_csv(d.sites, comment="#")
    row = sites.iloc[0].to_dict()
    row.update(site_id=payload, cell_id=payload + "-1", operator=payload, status="candidate", technology="5G",
               frequency_mhz=2600, tx_power_dbm=50, antenna_gain_dbi=24)
    pd.DataFrame([row]).to_csv(tmp_path / "evil.csv", index=False)
    out = tmp_path / "plan"
    _plan(study, d, out, "--candidates", str(tmp_path / "evil.csv"), "--targets", "T25-5G-CENTRES",
          "--max-sites", "1", "--operator", payload + "`${window.__pwned=3}`")
    html = (out / "plan.html").read_text(encoding="utf-8")
    assert payload not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    md = (out / "plan.md").read_text(encoding="utf-8")
    assert payload not in md
    # the map's plan markers: Folium puts their tooltips in JavaScript template literals
    actions = pyogrio.read_dataframe(out / "plan.gpkg", layer="actions")
    assert (actions["operator"] == payload + "`${window.__pwned=3}`").all()
    _invoke(["map", "--run", str(study / "run"), "--gaps", str(study / "gaps.gpkg"), "--plan", str(out),
             "--out", str(tmp_path / "map.html")])
    page = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert "${window.__pwned" not in page and "`${" not in page and payload not in page
    assert "&lt;img src=x onerror=alert(1)&gt;&#96;&#36;{window.__pwned=3}&#96;" in page


def test_costs_file_changes_the_choice(tmp_path):
    from phusong.planning.costs import load_costs
    (tmp_path / "c.toml").write_text('currency = "VND"\nnew_tower = 2.5e9\nshared_mast = 6e8\n'
                                     'carrier_upgrade = 2.5e8\nper_sector = 1.5e8\n[carrier.5G]\n'
                                     'frequency_mhz = 3700\n', encoding="utf-8")
    c = load_costs(tmp_path / "c.toml")
    assert c.currency == "VND" and c.carrier["5G"].frequency_mhz == 3700
    assert c.action_cost("new", 3) == pytest.approx(2.5e9 + 3 * 1.5e8)
    assert c.action_cost("share", 3) < c.action_cost("new", 3)
    (tmp_path / "bad.toml").write_text('[carrier.5G]\nfrequency_mhz = 50\n', encoding="utf-8")
    with pytest.raises(ValueError, match="carrier.5G.frequency_mhz: out of range"):
        load_costs(tmp_path / "bad.toml")
    np.testing.assert_equal(load_costs().action_cost("upgrade", 0), load_costs().carrier_upgrade)


def test_plan_on_the_real_langson_communes_holds_in_a_rerun(shared, tmp_path):
    """The real 65 communes and their centres, WorldPop settlements, the stand-in terrain (synthetic) and a
    generated site list: what `plan` says it reaches, `simulate` + `gaps` on sites_after.csv confirm."""
    import geopandas as gpd

    from phusong.sites.generate import generate_sites, write_sites_csv

    communes = shared("data", "langson", "communes_2025.gpkg")
    population = shared("data", "langson", "population_worldpop_2020_1km.tif")
    dem = shared("data", "langson", "terrain_standin_3arcsec.tif")
    province = gpd.read_file(communes, layer="province")
    write_sites_csv(generate_sites(province, population, 40, seed=3), tmp_path / "sites.csv")
    grid = ["--resolution-m", "300", "--radius-km", "8"]
    units = ["--communes", str(communes), "--communes-layer", "communes", "--centres", str(communes),
             "--centres-layer", "commune_centres", "--population", str(population), "--settlement-min-people", "400"]
    _invoke(["simulate", "--dem", str(dem), "--sites", str(tmp_path / "sites.csv"), "--area", str(communes),
             "--area-layer", "communes", *grid, "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c")])
    _invoke(["gaps", "--run", str(tmp_path / "run"), *units, "--sites", str(tmp_path / "sites.csv"),
             "--out", str(tmp_path / "gaps.gpkg")])
    _invoke(["plan", "--run", str(tmp_path / "run"), "--gaps", str(tmp_path / "gaps.gpkg"), "--dem", str(dem),
             "--sites", str(tmp_path / "sites.csv"), "--population", str(population), "--targets",
             "T25-5G-CENTRES,T25-MBB-VILLAGES", "--milp-time-limit-s", "10", "--out", str(tmp_path / "plan"),
             "--cache-dir", str(tmp_path / "c")])
    after_sites = tmp_path / "plan" / "sites_after.csv"
    _invoke(["simulate", "--dem", str(dem), "--sites", str(after_sites), "--area", str(communes), "--area-layer",
             "communes", *grid, "--out", str(tmp_path / "after")])
    _invoke(["gaps", "--run", str(tmp_path / "after"), *units, "--sites", str(after_sites),
             "--out", str(tmp_path / "after.gpkg")])
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text(encoding="utf-8"))
    rerun = _targets(tmp_path / "after.gpkg")
    unreachable = pyogrio.read_dataframe(tmp_path / "plan" / "plan.gpkg", layer="unreachable")
    for t in plan["targets"]:
        tid = t["target_id"]
        assert t["after"] == pytest.approx(rerun.loc[tid, "value"], abs=0.01), tid
        if t["status_after"] == "met":
            assert rerun.loc[tid, "status"] == "met"
        elif tid == "T25-MBB-VILLAGES":   # proxy settlements: one by one in their layer (per commune in the table)
            s = pyogrio.read_dataframe(tmp_path / "after.gpkg", layer="settlements")
            failing = set(s.loc[s["counted"].astype(bool) & ~s["covered_mbb"].astype(bool), "code"])
            assert failing == set(unreachable.loc[unreachable["target_id"] == tid, "unit_id"])
        else:   # what is still missing is exactly what no candidate reaches, and it is listed
            failing = {u.split(" ")[0] for u in rerun.loc[tid, "failing_units"].split("; ")}
            assert failing == set(unreachable.loc[unreachable["target_id"] == tid, "unit_id"])
    assert rerun.loc["T25-5G-CENTRES", "status"] == "met"      # a candidate stands at each uncovered centre
    assert plan["demonstration"]


def test_map_shows_the_proposed_sites(study, planned, tmp_path):
    _invoke(["map", "--run", str(study / "run"), "--gaps", str(study / "gaps.gpkg"), "--plan", str(planned),
             "--lang", "en", "--out", str(tmp_path / "map.html")])
    html = (tmp_path / "map.html").read_text(encoding="utf-8")
    actions = pyogrio.read_dataframe(planned / "plan.gpkg", layer="actions")
    assert "Proposed sites (plan)" in html
    assert html.count("L.divIcon(") == len(actions) > 0   # one numbered marker per action
    first = actions.iloc[0]
    words = {"new": "new site", "share": "shared mast", "upgrade": "upgrade"}
    assert f"#1 {words[first['action']]}: {first['site_id']}" in html
    result = _invoke(["map", "--run", str(study / "run"), "--gaps", str(study / "gaps.gpkg"), "--plan",
                      str(tmp_path), "--out", str(tmp_path / "m2.html")], 2)
    assert "no plan.gpkg here" in result.output


def test_scenario_plan_table_and_flags_over_it(study, demo_inputs, tmp_path):
    (tmp_path / "study.toml").write_text('[study]\nname = "Scenario plan"\n[plan]\ntarget_ids = ["T25-5G-CENTRES"]\n'
                                         'max_sites = 3\nmilp_time_limit_s = 5\n', encoding="utf-8")
    out = tmp_path / "plan"
    _plan(study, demo_inputs, out, "--scenario", str(tmp_path / "study.toml"), "--max-sites", "2")
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert [t["target_id"] for t in plan["targets"]] == ["T25-5G-CENTRES"]     # from the file
    assert plan["actions"] <= 2 and plan["budget_mode"]                         # the flag wins
    assert plan["title"] == "Rollout plan — Scenario plan"
    (tmp_path / "bad.toml").write_text('[plan]\nmax_site = 3\n', encoding="utf-8")
    result = _plan(study, demo_inputs, tmp_path / "p2", "--scenario", str(tmp_path / "bad.toml"), code=2)
    assert "unknown key 'max_site' (did you mean 'max_sites'?)" in result.output


def test_a_site_list_other_than_the_run_s_is_refused(study, demo_inputs, tmp_path):
    """The plan's "before" is the run's and its "after" a re-run of --sites: a list without one of the run's sites
    (or with cells the run did not simulate) is refused in one line naming the file, before any work."""
    d = demo_inputs
    sites = pd.read_csv(d.sites, comment="#", dtype=str)
    first = sites["site_id"].iloc[0]
    fewer = tmp_path / "fewer.csv"
    sites[sites["site_id"] != first].to_csv(fewer, index=False)
    gone = sorted(sites.loc[sites["site_id"] == first, "cell_id"])
    more = tmp_path / "more.csv"
    extra = sites.iloc[[0]].assign(site_id="NEW", cell_id="NEW-1", lon="106.70", lat="21.80")
    pd.concat([sites, extra]).to_csv(more, index=False)
    for path, expect in ((fewer, f"{len(gone)} of the run's cells are not in it ({', '.join(gone[:3])}"),
                         (more, "1 of its cells were not in the run (NEW-1)")):
        result = _invoke(["plan", "--run", str(study / "run"), "--gaps", str(study / "gaps.gpkg"), "--dem", str(d.dem),
                          "--sites", str(path), "--out", str(tmp_path / "p")], 2)
        lines = [ln for ln in result.output.splitlines() if ln.startswith("Error")]
        assert len(lines) == 1 and f"{path}: not the site list the run was made from" in lines[0], result.output
        assert expect in lines[0], result.output
        assert not (tmp_path / "p").exists()


def test_an_action_outside_every_commune_shows_no_commune_not_nan(study, demo_inputs):
    import dataclasses

    import numpy as np

    from phusong.outputs.plan import plan_html, plan_markdown
    from phusong.pipeline import plan_study
    from phusong.settings import Settings

    d = demo_inputs
    settings = Settings.from_dict({"plan": {"target_ids": ["T25-5G-CENTRES"], "milp_time_limit_s": 5}})
    plan = plan_study(settings, study / "run", study / "gaps.gpkg", [d.dem], d.sites, cache=None)
    assert len(plan.actions) > 0
    actions = plan.actions.assign(commune_name=np.nan)          # (as pandas holds "no commune")
    unreachable = plan.unreachable.assign(name=np.nan, commune_code=np.nan)
    outside = dataclasses.replace(plan, actions=actions, unreachable=unreachable)
    md, html = plan_markdown(outside), plan_html(outside)
    assert "| nan |" not in md and "<td>nan</td>" not in html
    assert f"| {actions['order'].iloc[0]} |" in md


def test_people_are_whole_numbers_and_costs_have_their_currency_in_the_plan(study, demo_inputs, tmp_path):
    import re

    out = tmp_path / "pop"
    _plan(study, demo_inputs, out, "--targets", "T30-5G-POP", "--max-sites", "2")
    for page in ("plan.md", "plan.html"):
        text = (out / page).read_text(encoding="utf-8")
        assert re.search(r"[\d,]+ people", text) and not re.search(r"\d\.\d+ people", text), page
        currency = json.loads((out / "plan.json").read_text(encoding="utf-8"))["currency"]
        assert f"cost ({currency})" in text and f"cumulative ({currency})" in text, page   # costs carry their unit

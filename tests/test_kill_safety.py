"""`gaps`, `map` and `run` killed at any moment: the output is complete or absent, never partial, and the
next run cleans up what the killed one left (its hidden temporary files)."""
import os
import signal
import subprocess
import sys
import time

import pyogrio
import pytest

from .test_gap_rules import COMMUNES, write_run_folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, demo_inputs):
    folder = tmp_path_factory.mktemp("kill")
    write_run_folder(folder / "run")
    COMMUNES.to_file(folder / "communes.gpkg", layer="communes", engine="pyogrio")
    return folder


def _kill_at(cmd, delay):
    proc = subprocess.Popen([sys.executable, "-m", "phusong.cli", *cmd, "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    return proc.wait()


def _complete_gpkg(path):
    layers = {name for name, _ in pyogrio.list_layers(path)}
    return {"communes", "commune_centres", "targets", "layer_styles"} <= layers


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.4, 1.3, 2.4])
def test_killed_gaps_and_map_leave_complete_outputs_or_none(inputs, tmp_path, delay):
    out = tmp_path / "gaps.gpkg"
    cmd = ["gaps", "--run", str(inputs / "run"), "--communes", str(inputs / "communes.gpkg"), "--out", str(out)]
    _kill_at(cmd, delay)
    assert not out.exists() or _complete_gpkg(out)
    # the next run succeeds and removes what the killed one left behind
    subprocess.run([sys.executable, "-m", "phusong.cli", *cmd, "--overwrite", "-q"], check=True)
    assert _complete_gpkg(out) and not list(tmp_path.glob(".gaps.gpkg.*"))
    html = tmp_path / "map.html"
    mcmd = ["map", "--run", str(inputs / "run"), "--gaps", str(out), "--out", str(html)]
    _kill_at(mcmd, delay)
    assert not html.exists() or html.read_text(encoding="utf-8").rstrip().endswith("</html>")
    subprocess.run([sys.executable, "-m", "phusong.cli", *mcmd, "--overwrite", "-q"], check=True)
    assert not list(tmp_path.glob(".map.html.*"))


@pytest.mark.slow
@pytest.mark.parametrize("delay", [3.0, 9.0])
def test_killed_run_leaves_the_study_complete_or_absent(demo_inputs, tmp_path, delay):
    scenario = tmp_path / "s.toml"
    d = demo_inputs
    scenario.write_text(f'[study]\nresolution_m = 100\n[inputs]\nterrain = "{d.dem}"\nsites = "{d.sites}"\n'
                        f'communes = {{ path = "{d.areas}", layer = "communes" }}\n[model]\nradius_km = 5\n',
                        encoding="utf-8")
    out = tmp_path / "study"
    cmd = ["run", str(scenario), "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    _kill_at(cmd, delay)
    if out.exists():   # finished before the kill: everything is there
        assert {"map.html", "gaps.gpkg", "run.json", "scorecard.csv", "covered_5g.tif"} <= set(os.listdir(out))
    subprocess.run([sys.executable, "-m", "phusong.cli", *cmd, "--overwrite", "-q"], check=True)
    assert (out / "map.html").exists() and not list(tmp_path.glob(".study.*"))

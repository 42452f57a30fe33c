"""Shared fixtures. Data in ../shared is read in place (never copied) and its tests skip without it."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Terrain passes cached by the tests go to a throwaway folder, not the user's cache.
os.environ.setdefault("PHUSONG_CACHE_DIR", tempfile.mkdtemp(prefix="phusong-test-cache-"))
SHARED = Path(os.environ.get("PHUSONG_SHARED", ROOT.parent / "shared"))


def shared_path(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the ../shared data folder beside the checkout, or set PHUSONG_SHARED)")
    return path


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture(scope="session")
def demo_inputs(tmp_path_factory):
    """The demo region's generated inputs (deterministic), written once per test session."""
    from phusong.data.demo import generate

    return generate(tmp_path_factory.mktemp("demo-inputs"))


def settings(**flat):
    """Settings from flat keys (``radius_km=6``), each placed in the table that declares it."""
    import dataclasses

    from phusong.settings import SECTIONS, Settings

    tables = {}
    for key, value in flat.items():
        section = next(name for name, cls in SECTIONS.items() if key in {f.name for f in dataclasses.fields(cls)}
                       and name != "study" or (name == "study" and key in ("crs", "resolution_m")))
        tables.setdefault(section, {})[key] = value
    return Settings.from_dict(tables)


# CI has ../shared, GDAL, Chromium and the web assets: there a skip means something is missing, so
# .ci/run sets PHUSONG_REQUIRE_SHARED=1 and every skip becomes a failure. A user's plain `make test`
# still skips with the reason.
REQUIRE = os.environ.get("PHUSONG_REQUIRE_SHARED") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but PHUSONG_REQUIRE_SHARED=1 requires it to run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE and report.skipped:  # a whole module skipped at import (e.g. importorskip)
        report.outcome = "failed"

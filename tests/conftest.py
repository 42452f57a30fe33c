"""Shared fixtures. Data in ../shared is read in place (never copied) and its tests skip without it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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

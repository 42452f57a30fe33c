"""The public API: every exported name is documented with a runnable example, and the examples run."""
import doctest
import importlib

import pytest

import phusong

EXPORTED = [name for name in phusong.__all__ if name != "__version__"]


def test_all_matches_the_lazy_table():
    assert set(EXPORTED) == set(phusong._API)
    assert set(dir(phusong)) >= set(EXPORTED)
    with pytest.raises(AttributeError):
        phusong.no_such_name  # noqa: B018


@pytest.mark.parametrize("name", EXPORTED)
def test_exported_name_has_a_runnable_example(name):
    obj = getattr(phusong, name)
    assert obj.__doc__ and obj.__doc__.strip(), name
    tests = [t for t in doctest.DocTestFinder(recurse=False).find(obj, name, globs={}) if t.examples]
    assert tests, f"phusong.{name} has no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    module = importlib.import_module(obj.__module__)
    for t in tests:
        t.globs = {**vars(module), **t.globs}
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"phusong.{name}: {result.failed} example(s) failed"


def test_coverage_to_xarray_and_back_through_a_run_folder(tmp_path):
    cov = phusong.Coverage.example()
    ds = cov.to_xarray()
    assert ds["rsrp_dbm_4g"].shape == (cov.grid.height, cov.grid.width)
    assert float(ds["x"][1] - ds["x"][0]) == cov.grid.res_m
    cov.to_run_folder(tmp_path / "run")
    back = phusong.Coverage.from_run_folder(tmp_path / "run")
    assert back.grid.transform == cov.grid.transform and back.demonstration
    import numpy as np
    for tech in ("4G", "5G"):
        np.testing.assert_array_equal(back.covered[tech], cov.covered[tech])
        np.testing.assert_array_equal(back.rsrp_dbm[tech], cov.rsrp_dbm[tech])
    assert back.settings == cov.settings

"""The package's layering, and the constants the Numba kernels duplicate.

Layers, top to bottom: cli -> pipeline -> planning -> gaps, measurements -> coverage -> outputs -> settings, fetch -> data
-> propagation, sites -> the base modules (_raster, _atomic, _direct, _markup, _tables, _jit, _threads, errors). A
module may import its own layer and the layers below it, never above (imports inside functions count too)."""
import ast
import math
from pathlib import Path

import numpy as np

PACKAGE = Path(__file__).resolve().parents[1] / "phusong"
RANK = {"_raster": 0, "_atomic": 0, "_direct": 0, "_markup": 0, "_tables": 0, "_jit": 0, "_threads": 0, "errors": 0,
        "sites": 1, "propagation": 1, "data": 2,
        "settings": 3, "fetch": 3, "outputs": 4, "coverage": 5, "gaps": 6, "measurements": 6,
        "planning": 7, "pipeline": 8, "cli": 9}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "phusong"


def _imports(path: Path):
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    module = ".".join(rel.parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            target, names = "", [a.name for a in node.names]
            for name in names:
                if name.startswith("phusong."):
                    yield module, name, node.lineno
            continue
        else:
            continue
        if target == "phusong":
            for name in names:
                if name != "__version__":
                    yield module, f"phusong.{name}", node.lineno
        elif target.startswith("phusong."):
            yield module, target, node.lineno


def test_lower_layers_never_import_upper_ones():
    bad = []
    for path in PACKAGE.rglob("*.py"):
        for module, target, line in _imports(path):
            src, dst = _unit(module), _unit(target)
            if src == "phusong":
                continue  # the public API names everything (lazily)
            assert src in RANK and dst in RANK, (module, target)
            if RANK[dst] > RANK[src]:
                bad.append(f"{module}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def test_no_file_io_in_propagation():
    for path in (PACKAGE / "propagation").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for forbidden in ("open(", "read_csv", "rasterio", "pyogrio", "read_text", "np.load", "load_terrain"):
            assert forbidden not in text, (path.name, forbidden)


def test_constants_duplicated_for_numba_are_equal():
    from phusong.coverage import _kernels as cov_k
    from phusong.propagation import _kernels as prop_k
    from phusong.propagation import antenna, p525, p526

    assert prop_k.C_M_S == p525.SPEED_OF_LIGHT_M_S
    assert math.isclose(prop_k.FSPL_CONST_DB, float(p525.FSPL_CONST_DB), rel_tol=0, abs_tol=1e-12)
    assert prop_k.LAND_EPS == p526.LAND_PERMITTIVITY and prop_k.LAND_SIGMA == p526.LAND_CONDUCTIVITY_S_M
    assert cov_k.AM_DB == antenna.AM_DB and cov_k.SLAV_DB == antenna.SLAV_DB
    assert math.isclose(cov_k.LN10_OVER_10, np.log(10.0) / 10.0, rel_tol=1e-15)

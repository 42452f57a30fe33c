"""The ``phusong`` command line, rio-style: the group here, shared options in :mod:`.options`, one module
per command. Heavy libraries are imported inside the commands, so that ``phusong --help`` stays fast."""
from __future__ import annotations

import os

import click

from .. import __version__
from .options import Group, verbosity_options


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="phusong")
@verbosity_options
def cli():
    """phusong: 4G/5G coverage planning against a province's coverage targets.

    -v/-q work before or after the command name. Exit codes: 0 success, 1 failure, 2 bad input.
    """


def _register() -> None:
    from . import (calibrate, check, data, demo, footprint, gaps, map, measurements, models, path, plan, run, simulate,
                   sites, terrain)

    for module in (demo, run, simulate, gaps, plan, map, calibrate, check, sites, measurements, data, terrain, path,
                   footprint, models):
        cli.add_command(module.command)


_register()


# The kernel's transparent-huge-page defrag policies that compact memory at a fault in a region advised for huge
# pages (Documentation/admin-guide/mm/transhuge.rst): there NumPy's advice stalls every first touch of a large array.
COMPACTING_DEFRAG = ("always", "madvise", "defer+madvise")
THP_DEFRAG = "/sys/kernel/mm/transparent_hugepage/defrag"


def stalls_on_huge_page_advice(policy_text: str) -> bool:
    """Whether a THP defrag policy (the text of ``THP_DEFRAG``, the chosen one in brackets) compacts memory
    at faults in regions advised for huge pages."""
    chosen = policy_text.partition("[")[2].partition("]")[0]
    return chosen in COMPACTING_DEFRAG


def _numpy_without_compaction_stalls() -> None:
    """Turn NumPy's huge-page advice off for this process where the kernel would compact memory on each of its
    faults: a what-if re-run, which mostly writes fresh full-grid arrays, took 12.5 s instead of 16.0 s on such a
    machine (benchmarks/RESULTS.md). NumPy's own ``NUMPY_MADVISE_HUGEPAGE``, when set, decides instead. Only the
    command line does this: a library does not change a notebook's NumPy."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return
    try:
        with open(THP_DEFRAG, encoding="ascii") as fh:
            if not stalls_on_huge_page_advice(fh.read()):
                return
    except OSError:   # not Linux, or no THP
        return
    import numpy

    core = getattr(numpy, "_core", None) or numpy.core   # (NumPy 2, NumPy 1)
    setter = getattr(core.multiarray, "_set_madvise_hugepage", None)
    if setter is not None:   # (NumPy's switch behind NUMPY_MADVISE_HUGEPAGE, since 1.20)
        setter(False)


def main() -> None:
    """Entry point of the ``phusong`` console script."""
    _numpy_without_compaction_stalls()
    cli(prog_name="phusong")

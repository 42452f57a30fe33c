"""Where a terrain pass spends its time, instruction by instruction: a sampling profile of 15 km delta-Bullington
passes on the Lạng Sơn stand-in terrain (SYNTHETIC), the six sites of machine_check.py.

Usage: .venv/bin/python benchmarks/profile_pass.py [--seconds 12] [--out DIR]
Needs Linux perf (Debian's linux-perf) and objdump (binutils), and ../shared. Virtual machines without hardware
counters still have the kernel's timer ("cpu-clock"), which is what this samples: each sample is the instruction a
thread was at. Numba's compiled code has no symbols, so the report names the shared objects, then the hottest
128-byte blocks of the compiled kernels with the divisions, square roots and calls in each; ``DIR/annotated.txt``
holds the whole disassembly with each instruction's share, to match blocks with the kernel's source by their
arithmetic (RESULTS.md, "Where a pass goes, sampled").
"""
from __future__ import annotations

import argparse
import collections
import ctypes
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CHILD = "PHUSONG_PROFILE_CHILD"
BLOCK = 128


def run_passes(seconds: float, code_dir: Path) -> None:
    """(In the profiled process.) Passes for ``seconds``, then the executable anonymous memory (the compiled
    kernels) written to ``code_dir``, one file per mapping named by its start address."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine_check import stand_in_sites

    from phusong._raster import huge_page_array
    from phusong.propagation.footprint import site_footprint

    terrain, sites = stand_in_sites()
    heights = huge_page_array(terrain.array)   # as simulate reads it
    site_footprint(heights, terrain.grid, *sites[0], 30.0, 1800.0, 2.0)   # compiled before the samples count
    start, passes = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        for x, y in sites:
            site_footprint(heights, terrain.grid, x, y, 30.0, 1800.0, 15.0)
            passes += 1
    print(f"{passes} passes, {1000 * (time.perf_counter() - start) / passes:.0f} ms a pass (while sampled)")
    code_dir.mkdir(parents=True, exist_ok=True)
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        if "x" in fields[1] and len(fields) < 6:   # executable, no file behind it: JIT code
            lo, hi = (int(v, 16) for v in fields[0].split("-"))
            (code_dir / f"{lo:x}.bin").write_bytes(ctypes.string_at(lo, hi - lo))


def report(out: Path) -> None:
    samples = subprocess.run(["perf", "script", "-i", str(out / "perf.data"), "-F", "ip,dso"], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    by_ip: collections.Counter = collections.Counter()
    by_dso: collections.Counter = collections.Counter()
    for line in samples:
        ip, _, dso = line.strip().partition(" ")
        by_ip[int(ip, 16)] += 1
        by_dso[dso.strip("()").split(" tid")[0]] += 1
    total = sum(by_dso.values())
    print(f"\n{total} samples; by shared object:")
    for dso, n in by_dso.most_common(8):
        print(f"  {100 * n / total:5.1f} %  {dso}")
    regions = [(int(f.stem, 16), f) for f in (out / "code").glob("*.bin")]
    if not regions:
        print("no compiled code was written out: nothing to annotate", file=sys.stderr)
        return
    base, path = max(regions, key=lambda r: sum(n for ip, n in by_ip.items() if r[0] <= ip < r[0] + r[1].stat().st_size))
    end = base + path.stat().st_size
    disassembly = subprocess.run(["objdump", "-D", "-b", "binary", "-mi386:x86-64", f"--adjust-vma={base:#x}",
                                  str(path)], capture_output=True, text=True, check=True).stdout
    blocks: collections.Counter = collections.Counter()
    notable = collections.defaultdict(list)
    with open(out / "annotated.txt", "w") as annotated:
        for line in disassembly.splitlines():
            address, sep, rest = line.strip().partition(":")
            try:
                ip = int(address, 16)
            except ValueError:
                continue
            if not sep or not base <= ip < end:
                continue
            share = 100 * by_ip.get(ip, 0) / total
            annotated.write(f"{share:6.2f} {line}\n")
            blocks[ip // BLOCK * BLOCK] += share
            instruction = rest.split("\t")[-1].strip()
            if instruction.startswith(("call", "vdiv", "vsqrt")):
                notable[ip // BLOCK * BLOCK].append(instruction.split()[0])
    print(f"\nthe compiled region at {base:#x} ({sum(blocks.values()):.1f} % of samples); its blocks above 0.5 %:")
    for block in sorted(blocks):
        if blocks[block] >= 0.5:
            print(f"  {block:#x}  {blocks[block]:5.2f} %  {' '.join(notable[block])}")
    print(f"\nannotated disassembly: {out / 'annotated.txt'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="how long to sample passes (default 12)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/phusong-profile"), help="where the profile goes")
    args = parser.parse_args()
    if os.environ.get(CHILD):
        run_passes(args.seconds, args.out / "code")
        return 0
    missing = [tool for tool in ("perf", "objdump") if shutil.which(tool) is None]
    if missing:
        print(f"profile_pass.py needs {' and '.join(missing)} (Debian: linux-perf, binutils)", file=sys.stderr)
        return 2
    shutil.rmtree(args.out / "code", ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    recorded = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-o",
                               str(args.out / "perf.data"), sys.executable, __file__, "--seconds", str(args.seconds),
                               "--out", str(args.out)], env={**os.environ, CHILD: "1"})
    if recorded.returncode != 0:
        print("perf record failed (as an unprivileged user, /proc/sys/kernel/perf_event_paranoid may need to be 2 or "
              "less)", file=sys.stderr)
        return 2
    report(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

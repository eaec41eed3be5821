"""Gradescope's autograder in an emulated Gradescope container, against the strict floor in the same container.

    sudo python benchmarks/gradescope.py [--rounds 3] [--cpus 0.5] [--memory-mb 768]

Gradescope's default container has half a CPU and 768 MB of memory. This script emulates it with a
control group of its own per command, made as the grader makes a sandbox's (grader.sandbox.cgroups:
cgroup v2's cpu.max and memory.max in a delegated subtree, else v1's cpu.cfs_quota_us and
memory.limit_in_bytes), as root. Each round runs,
in a fresh group each, in alternating order:

- the Gradescope entry point (`python -m grader.platforms.gradescope`, what `run_autograder` runs) on
  the reference solution, with no cgroup layer of its own (`GRADER_ISOLATION_DISABLE=cgroup`: a
  container gives none to delegate), its training not memoized (a fresh root each round);
- the strict floor (benchmarks/floor.py: import Keras, train and evaluate the same budget, nothing else).

It prints the medians of wall time, of the peak memory of the group (all its processes together:
memory.peak, or v1's memory.max_usage_in_bytes, page cache included, as the container counts it) and
of CPU time (the command's and what it waited for, as benchmarks/single.py counts it), the median of the per-round ratios of wall time, and the memory difference.
Targets: wall at most 1.2x the floor's, peak memory at most the floor's + 150 MiB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADER_COURSE", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from single import SOLUTION, measure, prepare_floor_data  # noqa: E402

from grader.sandbox import cgroups  # noqa: E402

WALL_TARGET, MEMORY_TARGET_MIB = 1.2, 150
MAX_PIDS = 4096  # a container's processes are not what is measured


@dataclass(frozen=True)
class Run:
    wall: float
    peak_mib: float
    cpu: float


def peak_mib(group: cgroups.Group) -> float:
    """The most memory the group's processes held together, page cache included (v2 memory.peak, v1
    memory.max_usage_in_bytes of its memory controller's folder)."""
    for folder in group.folders:
        for name in ("memory.peak", "memory.max_usage_in_bytes"):
            if (folder / name).is_file():
                return int((folder / name).read_text()) / 2**20
    sys.exit(f"no memory.peak or memory.max_usage_in_bytes in {', '.join(map(str, group.folders))}")


def run_in_group(command: list[str], env: dict[str, str], cpus: float, memory: int, cwd: Path) -> Run:
    """`command` in a control group of its own (grader.sandbox.cgroups, as a sandbox's), timed as benchmarks/single.py
    times (CPU time of the command and of what it waited for, from wait4)."""
    group = cgroups.create(memory_bytes=memory, max_pids=MAX_PIDS, cpus=cpus)
    if group is None:
        sys.exit("this machine does not let this process make a control group bounding memory, processes and CPU "
                 "(cgroup v1's memory, pids and cpu hierarchies writable, or a delegated cgroup v2 subtree): run it as "
                 "root on such a machine")
    try:
        # A shell joins the group, then becomes the command: everything it starts is counted.
        join = "; ".join(f'echo $$ > "{procs}"' for procs in group.procs)
        timed = measure(["sh", "-c", f'{join}; exec "$@"', "sh", *command], cwd, env)
        return Run(timed.wall, peak_mib(group), timed.cpu)
    finally:
        group.remove()


def gradescope_root(folder: Path) -> Path:
    """A fresh Gradescope root holding the reference solution as the submission."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "submission").mkdir(parents=True)
    shutil.copy(SOLUTION, folder / "submission" / "digits.py")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3,
                        help="paired rounds of the autograder and the floor (default 3)")
    parser.add_argument("--cpus", type=float, default=0.5,
                        help="the container's CPU quota, in CPUs (default 0.5, Gradescope's default)")
    parser.add_argument("--memory-mb", type=int, default=768,
                        help="the container's memory limit in MB (default 768, Gradescope's default)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("making control groups needs root: run it with sudo")
    memory = args.memory_mb * 2**20
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as temporary:
        cwd = Path(temporary)
        data = cwd / "floor.npz"
        prepare_floor_data(data)
        env = {"GRADER_ISOLATION_DISABLE": "cgroup"}  # besides this process's environment (see single.measure)
        commands = {
            "gradescope": lambda: [sys.executable, "-m", "grader.platforms.gradescope", "--root",
                                   str(gradescope_root(cwd / "root")), "--assignment", "digits"],
            "strict floor": lambda: [sys.executable, str(ROOT / "benchmarks" / "floor.py"), str(data)],
        }
        for make in commands.values():  # untimed: the page cache
            run_in_group(make(), env, args.cpus, memory, cwd)
        runs: dict[str, list[Run]] = {name: [] for name in commands}
        for round_ in range(args.rounds):
            order = list(commands) if round_ % 2 == 0 else list(reversed(commands))
            for name in order:
                runs[name].append(run_in_group(commands[name](), env, args.cpus, memory, cwd))
                print(f"round {round_ + 1} {name}: {runs[name][-1].wall:.2f} s wall, {runs[name][-1].cpu:.2f} s CPU, "
                      f"peak {runs[name][-1].peak_mib:.0f} MiB", flush=True)
    print(f"\nin a group of {args.cpus:g} CPU and {args.memory_mb} MB, medians of {args.rounds} rounds:")
    for name, measured in runs.items():
        print(f"  {name}: {statistics.median(r.wall for r in measured):.2f} s wall, "
              f"{statistics.median(r.cpu for r in measured):.2f} s CPU, "
              f"peak {statistics.median(r.peak_mib for r in measured):.0f} MiB for all its processes")
    ratios = [g.wall / f.wall for g, f in zip(runs["gradescope"], runs["strict floor"])]
    extra = [g.peak_mib - f.peak_mib for g, f in zip(runs["gradescope"], runs["strict floor"])]
    wall = statistics.median(ratios)
    memory_extra = statistics.median(extra)
    print(f"gradescope / strict floor: wall {wall:.2f}x ({min(ratios):.2f}..{max(ratios):.2f}; target <= "
          f"{WALL_TARGET}x: {'met' if wall <= WALL_TARGET else 'NOT met'})")
    print(f"peak memory, gradescope - strict floor: {memory_extra:+.0f} MiB ({min(extra):+.0f}..{max(extra):+.0f}; "
          f"target <= +{MEMORY_TARGET_MIB} MiB: {'met' if memory_extra <= MEMORY_TARGET_MIB else 'NOT met'})")


if __name__ == "__main__":
    main()

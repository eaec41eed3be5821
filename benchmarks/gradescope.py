"""Gradescope's autograder in an emulated Gradescope container, against the strict floor in the same container.

    sudo python benchmarks/gradescope.py [--rounds 3] [--cpus 0.5] [--memory-mb 768]

Gradescope's default container has half a CPU and 768 MB of memory. This script emulates it with a
control group of its own per command (cgroup v2's cpu.max and memory.max where the v2 hierarchy has
those controllers, else v1's cpu.cfs_quota_us and memory.limit_in_bytes), as root. Each round runs,
in a fresh group each, in alternating order:

- the Gradescope entry point (`python -m grader.platforms.gradescope`, what `run_autograder` runs) on
  the reference solution, with no cgroup layer of its own (`GRADER_ISOLATION_DISABLE=cgroup`: a
  container gives none to delegate), its training not memoized (a fresh root each round);
- the strict floor (benchmarks/floor.py: import Keras, train and evaluate the same budget, nothing else).

It prints the medians of wall time, of the peak memory of the group (all its processes together:
memory.peak, or v1's memory.max_usage_in_bytes, page cache included, as the container counts it) and
of the group's CPU time, the median of the per-round ratios of wall time, and the memory difference.
Targets (issue "one road"): wall at most 1.2x the floor's, peak memory at most the floor's + 150 MiB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADER_COURSE", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from single import SOLUTION, prepare_floor_data  # noqa: E402

WALL_TARGET, MEMORY_TARGET_MIB = 1.2, 150
V2 = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Run:
    wall: float
    peak_mib: float
    cpu: float


class Group:
    """A control group with a CPU quota and a memory limit: v2 where it has both controllers, else v1."""

    def __init__(self, name: str, cpus: float, memory: int) -> None:
        controllers = (V2 / "cgroup.controllers").read_text().split() if (V2 / "cgroup.controllers").is_file() else []
        self.v2 = {"cpu", "memory"} <= set(controllers)
        period = 100_000
        if self.v2:
            self.paths = [V2 / name]
            self.paths[0].mkdir()
            (self.paths[0] / "cpu.max").write_text(f"{int(cpus * period)} {period}")
            (self.paths[0] / "memory.max").write_text(str(memory))
            (self.paths[0] / "memory.swap.max").write_text("0") if (self.paths[0] / "memory.swap.max").exists() else None
        else:
            cpu, mem, acct = V2 / "cpu" / name, V2 / "memory" / name, V2 / "cpuacct" / name
            if not (V2 / "cpu").is_dir() or not (V2 / "memory").is_dir():
                sys.exit("no cgroup v2 cpu and memory controllers and no v1 cpu and memory hierarchies here")
            self.paths = [cpu, mem]
            if (V2 / "cpuacct").is_dir() and (V2 / "cpuacct").resolve() != (V2 / "cpu").resolve():
                self.paths.append(acct)
            for path in self.paths:
                path.mkdir()
            (cpu / "cpu.cfs_period_us").write_text(str(period))
            (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * period)))
            (mem / "memory.limit_in_bytes").write_text(str(memory))
            if (mem / "memory.memsw.limit_in_bytes").exists():
                try:
                    (mem / "memory.memsw.limit_in_bytes").write_text(str(memory))
                except OSError:
                    pass

    def procs_files(self) -> list[str]:
        return [str(path / "cgroup.procs") for path in self.paths]

    def peak_mib(self) -> float:
        if self.v2:
            return int((self.paths[0] / "memory.peak").read_text()) / 2**20
        return int((self.paths[1] / "memory.max_usage_in_bytes").read_text()) / 2**20

    def cpu_seconds(self) -> float:
        if self.v2:
            usage = dict(line.split() for line in (self.paths[0] / "cpu.stat").read_text().splitlines())
            return int(usage["usage_usec"]) / 1e6
        usage = [path / "cpuacct.usage" for path in self.paths if (path / "cpuacct.usage").exists()]
        return int(usage[0].read_text()) / 1e9 if usage else float("nan")

    def remove(self) -> None:
        for path in self.paths:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def run_in_group(command: list[str], env: dict[str, str], cpus: float, memory: int, cwd: Path) -> Run:
    group = Group(f"grader-bench-{os.getpid()}-{time.monotonic_ns()}", cpus, memory)
    try:
        # A shell joins the group, then becomes the command: everything it starts is counted.
        join = "; ".join(f'echo $$ > "{f}"' for f in group.procs_files())
        started = time.monotonic()
        done = subprocess.run(["sh", "-c", f'{join}; exec "$@"', "sh", *command], env=env, cwd=cwd,
                              capture_output=True, text=True)
        wall = time.monotonic() - started
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed with status {done.returncode}:\n{done.stdout[-3000:]}\n"
                     f"{done.stderr[-3000:]}")
        return Run(wall, group.peak_mib(), group.cpu_seconds())
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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpus", type=float, default=0.5)
    parser.add_argument("--memory-mb", type=int, default=768)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("making control groups needs root: run it with sudo")
    memory = args.memory_mb * 2**20
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as temporary:
        cwd = Path(temporary)
        data = cwd / "floor.npz"
        prepare_floor_data(data)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "GRADER_ISOLATION_DISABLE": "cgroup"}
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

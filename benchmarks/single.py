"""One grading against its bare floor, measured honestly in one run.

    python benchmarks/single.py [--rounds 7] [--check-rounds 7]

Before any timing it writes the digits the floor needs, already cut to the grading budget, into an
npz (the floor, benchmarks/floor.py, imports nothing of the grader and parses nothing), and runs
every command once untimed (the page cache, the grader's data cache). Then each round times, one
after the other, in an order that alternates from round to round:

- `grader run --timings --no-cache` on the reference solution (sandbox, every check, results.json,
  report.html), training every time as the floor does, never reusing a kept training;
- the strict floor: import Keras without the optional packages the grader keeps out too, load the
  npz, train the same budget the same way, evaluate, leave without tearing the interpreter down;
- the plain floor: the same script as anyone would write it, every installed package imported and
  the interpreter shut down as usual (what a bare script costs in this environment);
- `grader run` with every sandbox isolation layer turned off (GRADER_ISOLATION_DISABLE), so that the
  paired difference is what isolation costs per submission.

It prints, for each command, the median wall time and its spread (min..max), the median CPU time
(user + system of the command and of every process it started and waited for: getrusage of the
child, from wait4) and the peak resident memory of its largest single process (ru_maxrss of the
child, from wait4: the largest of that process and of each descendant it waited for, never their
sum); then the median of the per-round ratios grader / strict floor with its spread (targets: at
most 1.05x in wall time and 1.15x in CPU time), the isolation cost, and the median of each stage of `grader run --timings`.

Then, for `--check-rounds`, it pairs `grader check` on the untouched student template with
`python -c "import tensorflow"` (target: at most 2 s more), and with the strict form of that import
(the same optional packages hidden, no tear-down), which is what the grader's own processes pay.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADER_COURSE", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the example course

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "digits" / "digits.py"
TEMPLATE = ROOT / "assignments" / "digits" / "digits.py"
NO_ISOLATION = {"GRADER_ISOLATION_DISABLE": "landlock,namespaces,seccomp,uid,cgroup"}
WALL_TARGET, CPU_TARGET, CHECK_TARGET = 1.05, 1.15, 2.0
STRICT_IMPORT = ("import os, sys\n"
                 "for name in ('sklearn', 'pandas', 'matplotlib', 'IPython', 'scipy'):\n"
                 "    sys.modules.setdefault(name, None)\n"
                 "import tensorflow\n"
                 "os._exit(0)")


@dataclass(frozen=True)
class Run:
    """One timed command: wall and CPU seconds, peak resident memory of its largest process, what it printed."""

    wall: float
    cpu: float
    peak_mb: float
    stdout: str


def measure(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run `command` and time it: wall time until it exits; CPU time and peak memory from wait4, for the command, what
    it waited for, and any process of it left without its parent, which this process (a child subreaper) reaps
    after it."""
    from grader import libc

    libc.set_child_subreaper()  # an orphan of the command comes here, not to init, and its CPU time is counted
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        cpu, peak = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
        while True:  # the orphans, which die with the processes that started them
            try:
                _, _, orphan = os.wait4(-1, 0)
            except ChildProcessError:
                break
            cpu, peak = cpu + orphan.ru_utime + orphan.ru_stime, max(peak, orphan.ru_maxrss)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} failed with status {process.returncode}:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return Run(wall, cpu, peak / 1024, stdout)


def prepare_floor_data(path: Path) -> None:
    """Write the floor's npz, before any timing: the arrays the grader trains and tests on, at its budget."""
    import numpy as np

    from grader.assignment import course
    from grader.assignment.data import load_dataset

    task = course.load("digits")
    budget = task.training
    data = load_dataset(None, task.data)
    np.savez(path, x_train=data.train_images[: budget.train_samples], y_train=data.train_labels[: budget.train_samples],
             x_test=data.test_images[: budget.test_samples], y_test=data.test_labels[: budget.test_samples],
             epochs=budget.epochs, batch_size=budget.batch_size, seed=budget.seed)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}..{max(values):.2f})"


def report(name: str, runs: list[Run]) -> str:
    return (f"  {name:<30} wall {spread([r.wall for r in runs])}   cpu {statistics.median([r.cpu for r in runs]):6.2f} s"
            f"   peak {max(r.peak_mb for r in runs):5.0f} MB")


def stage_medians(timings: list[dict]) -> list[str]:
    """The median of each stage over the rounds, in the order of the first round."""
    lines = []
    for stage in timings[0]["stages"]:
        key = (stage["stage"], stage["side"], stage["depth"])
        values = [s for t in timings for s in t["stages"] if (s["stage"], s["side"], s["depth"]) == key]
        start = statistics.median(s["start"] for s in values)
        took = statistics.median(s["seconds"] for s in values)
        lines.append(f"  {start:6.2f} {took:6.2f}  {'  ' * stage['depth']}{stage['stage']} [{stage['side']}]")
    total = statistics.median(t["total"] for t in timings)
    unaccounted = statistics.median(t["unaccounted"] for t in timings)
    lines.append(f"  total {total:.2f} s from the process's start to writing results.json; "
                 f"{unaccounted:.2f} s in no grader-side stage")
    return lines


def grade_rounds(rounds: int, cwd: Path) -> None:
    data = cwd / "floor.npz"
    prepare_floor_data(data)
    python = sys.executable
    commands = {
        "grader run": lambda i: ([python, "-m", "grader", "run", str(SOLUTION), "--out", str(cwd / f"out{i}"),
                                  "--no-cache", "--timings"], None),
        "strict floor": lambda i: ([python, str(ROOT / "benchmarks" / "floor.py"), str(data)], None),
        "plain floor": lambda i: ([python, str(ROOT / "benchmarks" / "floor.py"), str(data), "--plain"], None),
        "grader run, no isolation": lambda i: ([python, "-m", "grader", "run", str(SOLUTION), "--out",
                                                str(cwd / f"bare{i}"), "--no-cache"], NO_ISOLATION),
    }
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    for make in commands.values():  # untimed: the page cache, the grader's data cache
        command, env = make(-1)
        measure(command, cwd, env)
    timings = []
    for i in range(rounds):
        order = list(commands) if i % 2 == 0 else list(reversed(commands))
        for name in order:
            command, env = commands[name](i)
            runs[name].append(measure(command, cwd, env))
        timings.append(json.loads((cwd / f"out{i}" / "results.json").read_text())["extra_data"]["timings"])
        print(f"round {i + 1}: " + ", ".join(f"{name} {runs[name][-1].wall:.2f} s" for name in commands), flush=True)
    print(f"\nover {rounds} rounds: median wall (min..max), median CPU, peak resident memory of the largest process")
    for name, measured in runs.items():
        print(report(name, measured))
    for floor in ("strict floor", "plain floor"):
        ratios = [g.wall / f.wall for g, f in zip(runs["grader run"], runs[floor])]
        cpu = [g.cpu / f.cpu for g, f in zip(runs["grader run"], runs[floor])]
        target = (f" (targets: wall <= {WALL_TARGET}x, cpu <= {CPU_TARGET}x)" if floor == "strict floor" else "")
        print(f"grader run / {floor}: wall {statistics.median(ratios):.2f}x ({min(ratios):.2f}..{max(ratios):.2f}), "
              f"cpu {statistics.median(cpu):.2f}x, paired medians{target}")
    cost = [a.wall - b.wall for a, b in zip(runs["grader run"], runs["grader run, no isolation"])]
    print(f"isolation: median paired difference {statistics.median(cost):+.2f} s per submission "
          f"({min(cost):+.2f}..{max(cost):+.2f}; target <= 0.3 s)")
    print("\nstages of `grader run --timings` (median start and length, s):")
    print("\n".join(stage_medians(timings)))


def check_rounds(rounds: int, cwd: Path) -> None:
    python = sys.executable
    commands = {
        "grader check (template)": [python, "-m", "grader", "check", str(TEMPLATE)],
        'python -c "import tensorflow"': [python, "-c", "import tensorflow"],
        "import tensorflow, strict": [python, "-c", STRICT_IMPORT],
    }
    for command in commands.values():
        measure(command, cwd)
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    for i in range(rounds):
        for name in (list(commands) if i % 2 == 0 else list(reversed(commands))):
            runs[name].append(measure(commands[name], cwd))
    print(f"\nover {rounds} rounds: median wall (min..max), median CPU, peak resident memory of the largest process")
    for name, measured in runs.items():
        print(report(name, measured))
    check = runs["grader check (template)"]
    for name in list(commands)[1:]:
        extra = [a.wall - b.wall for a, b in zip(check, runs[name])]
        target = f"; target <= +{CHECK_TARGET:g} s" if "strict" not in name else ""
        print(f"grader check - {name}: median paired difference {statistics.median(extra):+.2f} s "
              f"({min(extra):+.2f}..{max(extra):+.2f}{target})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="paired rounds of grader run and the floors (default 7)")
    parser.add_argument("--check-rounds", type=int, default=7,
                        help="paired rounds of grader check and import tensorflow (default 7; 0 skips them)")
    parser.add_argument("--isolation-rounds", type=int, default=20,
                        help="paired sandboxes with and without isolation, by benchmarks/isolation.py (default 20; "
                             "0 skips them): the isolation cost without a whole grade's noise")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        if args.rounds:
            grade_rounds(args.rounds, Path(tmp))
        if args.check_rounds:
            check_rounds(args.check_rounds, Path(tmp))
    if args.isolation_rounds:
        print("\nisolation, measured on its own (benchmarks/isolation.py):", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).with_name("isolation.py")), "--rounds",
                        str(args.isolation_rounds)], check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


if __name__ == "__main__":
    main()

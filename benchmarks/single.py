"""One grading against its bare floor, measured in one run.

    python benchmarks/single.py [--rounds 3]

Times `grader run` on the reference solution (sandbox, every check, results.json and report.html)
and benchmarks/floor.py (import TensorFlow, load the same data, train the same budget, evaluate),
alternating them, and prints the medians and their ratio. Target: at most 1.3x.

Each round also times `grader run` with every sandbox isolation layer turned off
(GRADER_ISOLATION_DISABLE), so the cost of isolation per submission is the paired difference.
Target: at most 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


NO_ISOLATION = {"GRADER_ISOLATION_DISABLE": "landlock,namespaces,seccomp,uid,cgroup"}


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})
    elapsed = time.monotonic() - started
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    grader, floor, bare = [], [], []
    solution = str(ROOT / "solutions" / "digits" / "digits.py")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            floor.append(timed([sys.executable, str(ROOT / "benchmarks" / "floor.py")], Path(tmp)))
            grader.append(timed([sys.executable, "-m", "grader", "run", solution, "--out", str(Path(tmp) / f"out{i}")], Path(tmp)))
            bare.append(timed([sys.executable, "-m", "grader", "run", solution, "--out", str(Path(tmp) / f"bare{i}")],
                              Path(tmp), NO_ISOLATION))
            print(f"round {i + 1}: grader {grader[-1]:.2f} s, grader without isolation {bare[-1]:.2f} s, "
                  f"floor {floor[-1]:.2f} s", flush=True)
    g, f = statistics.median(grader), statistics.median(floor)
    print(f"median over {args.rounds} rounds: grader run {g:.1f} s, bare floor {f:.1f} s, ratio {g / f:.2f}x (target <= 1.3x)")
    cost = statistics.median(a - b for a, b in zip(grader, bare))
    print(f"isolation: median paired difference {cost:+.2f} s per submission (target <= 0.3 s)")


if __name__ == "__main__":
    main()

"""What the sandbox's isolation layers cost per sandbox, measured in one run.

    python benchmarks/isolation.py [--rounds 20]

Forks sandboxes from one zygote that preloads TensorFlow, as grading does, alternating a sandbox
with every layer this machine allows and one with none (rlimits only), and times each from fork
to a loaded submission (the reference solution imported) and closed. Prints the medians and
their difference: the isolation cost of one sandbox. A grade starts one sandbox (more only after
a crash), so the difference is the cost per submission. Target: at most 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("GRADER_COURSE", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the example course

from grader.assignment import course, spec  # noqa: E402
from grader.sandbox import isolation  # noqa: E402
from grader.sandbox.host import Sandbox  # noqa: E402
from grader.sandbox.zygote import Zygote  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def one(zygote: Zygote, task: spec.Assignment, available: dict, protect: tuple[Path, ...]) -> float:
    started = time.monotonic()
    sandbox = Sandbox(task.limits, zygote, protect=protect)
    sandbox.available = available
    with sandbox.start():
        sandbox.wait_ready()
        target = sandbox.copy_in({"digits.py": task.solution}, "digits.py")
        reply = sandbox.request({"op": "load", "path": str(target), "functions": list(task.functions)},
                                timeout=60, stage="load")
        assert reply.header.get("ok"), reply.header
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20,
                        help="paired sandboxes with and without isolation (default 20)")
    args = parser.parse_args()
    task = course.load("digits")
    full = isolation.probe()
    none = {name: None for name in full}
    protect = tuple(isolation.sensitive(task, None))
    zygote = Zygote(task.preload)
    zygote.wait_ready(120)
    confined, plain = [], []
    try:
        one(zygote, task, full, protect)  # warm the page cache
        for _ in range(args.rounds):
            confined.append(one(zygote, task, full, protect))
            plain.append(one(zygote, task, none, protect))
    finally:
        zygote.close()
    layers = ", ".join(name for name, detail in full.items() if detail) or "none"
    c, p = statistics.median(confined), statistics.median(plain)
    print(f"layers available: {layers}")
    print(f"sandbox start, load and close over {args.rounds} paired rounds: with isolation {c:.3f} s "
          f"(min {min(confined):.3f}), without {p:.3f} s (min {min(plain):.3f})")
    print(f"isolation cost per sandbox: {statistics.median(a - b for a, b in zip(confined, plain)):+.3f} s "
          "(median of paired differences; target <= 0.3 s)")


if __name__ == "__main__":
    main()

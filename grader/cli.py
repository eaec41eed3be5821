"""The `grader` command line: a thin layer that parses options, calls the library, sets the exit status.

Exit status: 0 every check passed; 1 graded, points lost; 2 usage error or a fault of the grader.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from grader import __version__

EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    """Bad command-line input; the message says what to give instead."""


def _assignment_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", "-a", default="digits",
                        help="bundled assignment name or path to an assignment.toml (default: digits)")
    parser.add_argument("--data", metavar="PATH",
                        help="a Keras mnist.npz or a folder of the four IDX *-ubyte.gz files "
                             "(default: $KERAS_HOME/datasets/mnist.npz if present, else the bundled 5,000 digits)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description="Grade deep-learning exercises in an isolated sandbox.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="grade one or more submissions and write results.json and report.html",
                              description="Grade submissions (a .py module, a notebook, or a folder holding one). "
                                          "Writes DIR/results.json (Gradescope format) and DIR/report.html; with several "
                                          "submissions, one sub-folder each. Exit status: 0 all checks passed, 1 points "
                                          "lost, 2 usage error or grader fault.")
    run.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="a .py file, .ipynb file or folder")
    _assignment_options(run)
    run.add_argument("--out", "-o", default="grading-out", metavar="DIR", help="output folder (default: grading-out)")
    run.add_argument("--gpu", action="store_true", help="let the sandbox see GPUs (the grader's own training always may)")
    run.add_argument("--json", action="store_true", help="print results.json instead of the summary table")
    run.set_defaults(handler=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from grader import api

    outcomes = api.run(submissions=[Path(s) for s in args.submissions], assignment=args.assignment,
                       out=Path(args.out), data=args.data, keep_gpu=args.gpu)
    for outcome in outcomes:
        print(json.dumps(outcome.results, indent=2) if args.json else outcome.summary)
    return max(outcome.exit_status for outcome in outcomes)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the summary
    args = build_parser().parse_args(argv)
    from grader.data import DataError
    from grader.spec import SpecError

    try:
        return args.handler(args)
    except (UsageError, SpecError, DataError) as exc:
        print(f"grader: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The `grader` command line: a thin layer that parses options, calls the library, sets the exit status.

Exit status: 0 every check passed; 1 graded, points lost; 2 usage error or a fault of the grader; 128 + N when
signal N stopped it (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), after every process it started was killed.
For Classroom 50's runner (CLASSROOM and SUBMISSION_TAG set), `grader run` exits 0 whenever it graded the submission.
`grader run --exit-status grader` (the default with --shard) reports the grader's own faults only: 0 once every
submission has a verdict, whatever the scores (see grader.results.EXIT_STATUS_KINDS).
This module is the only place where an error becomes a message and an exit status (see grader.errors).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from grader import __version__
from grader import interrupts
from grader.errors import GraderError, GraderFault, UsageError

from grader.results import EXIT_ERROR, EXIT_FAILED, EXIT_PASSED, EXIT_SIGNALLED  # noqa: F401 - also for callers
from grader.results import EXIT_OF_GRADER, EXIT_OF_SUBMISSIONS, EXIT_STATUS_KINDS


_ASSIGNMENT_HELP = ("an assignment's name in the course folder (the current folder or one above it holding "
                    "assignments/ and solutions/, or $GRADER_COURSE) or a path to an assignment.toml (default: for "
                    "each submission, the assignment whose functions it defines, its file name deciding a tie; one "
                    "that matches none, or several, is refused)")
_DATA_HELP = ("a Keras-format .npz or a folder of the four IDX *-ubyte.gz files (default: the first present of the data "
              "sources the assignment's spec declares)")


def _assignment_options(parser: argparse.ArgumentParser, assignment: str = _ASSIGNMENT_HELP,
                        data: str = _DATA_HELP) -> None:
    parser.add_argument("--assignment", "-a", default=None, help=assignment)
    parser.add_argument("--data", metavar="PATH", help=data)


def _isolation_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--isolation", choices=["auto", "strict"], default="auto",
                        help="auto (default): use every sandbox isolation layer this machine allows and warn once about "
                             "any missing; strict: refuse to grade (exit 2) unless Landlock, namespaces, seccomp, a uid "
                             "of its own (as root) and a cgroup are all available")


def _timings_option(parser: argparse.ArgumentParser, where: str) -> None:
    parser.add_argument("--timings", action="store_true",
                        help="print on stderr how long each stage took, from the command's start: start-up and imports "
                             "(grader and zygote), data, each check, training, the report, writing" + where)


def _verbose_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="show TensorFlow's own log lines (absl, oneDNN, its INFO, WARNING and ERROR records) on "
                             "stderr; by default they are hidden, as none of them is about the submission")


def _roster_options(parser: argparse.ArgumentParser, required_for: str | None) -> None:
    need = f"{required_for}: " if required_for else ""
    parser.add_argument("--roster", metavar="ROSTER.csv",
                        help=f"{need}the class list, e.g. the CSV Canvas' gradebook exports (Student, ID, SIS User ID, "
                             "SIS Login ID, Section); every graded submission must match one student"
                             + (" (required)" if required_for else "; adds a student column"))
    parser.add_argument("--match", metavar="COLUMN", default="SIS Login ID",
                        help=f"{need}the roster column holding the submissions' names (file, folder or GitHub user "
                             "names, compared as `grader run` names folders, ignoring case; default: SIS Login ID)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description="Grade deep-learning exercises in an isolated sandbox.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="grade one or more submissions and write results.json and report.html",
                              description="Grade submissions (a .py module, a notebook, or a folder holding one). "
                                          "Writes DIR/results.json (Gradescope format) and DIR/report.html; with several "
                                          "submissions (a class), one sub-folder each, DIR/gradebook.csv and "
                                          "DIR/index.html. Each submission is graded against the course's assignment "
                                          "whose functions it defines (its name decides a tie; Canvas' download names "
                                          "are understood), or --assignment's; a class of several assignments goes to "
                                          "DIR/<assignment>/. A submission graded into a class folder joins that "
                                          "class. Exit status: 0 all checks passed, 1 points lost, 2 usage error, "
                                          "grader fault or a hand-in with nothing to grade; with --shard (or "
                                          "--exit-status grader), 0 once every submission has a verdict and 2 only "
                                          "for a usage error or a grader fault. Ctrl-C, SIGTERM or SIGHUP "
                                          "stop it and every process it started (exit status 128 + the signal's "
                                          "number); what was graded is kept, and a rerun of a batch resumes after it. "
                                          "With CLASSROOM and SUBMISSION_TAG both set (Classroom 50's runner), it "
                                          "grades one submission, also writes ./result.json in Classroom 50's "
                                          "result/v1 form, and exits 0 whenever the submission was graded, whatever "
                                          "its score (a hand-in missing or unreadable is graded 0); 2 only for a "
                                          "usage error or a fault of the grader (see docs/classroom50.md).")
    run.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="a .py file, .ipynb file or folder")
    _assignment_options(run)
    run.add_argument("--out", "-o", default="grading-out", metavar="DIR", help="output folder (default: grading-out)")
    run.add_argument("--gpu", action="store_true", help="let the sandbox see GPUs (the grader's own training always may)")
    run.add_argument("--json", action="store_true",
                     help="print results.json instead of the summary table; for a class, one line of JSON per "
                          "submission (JSON Lines)")
    run.add_argument("--junit", metavar="FILE",
                     help="also write the results as JUnit XML to FILE, one testsuite per submission and one testcase "
                          "per check, for the test reports of GitLab, Jenkins or Azure DevOps (see docs/ci.md)")
    run.add_argument("--jobs", "-j", type=int, metavar="N",
                     help="with several submissions: grading workers (default: the cores, as memory allows)")
    run.add_argument("--force", action="store_true",
                     help="in a class: grade again every submission already graded with the same content and "
                          "configuration (by default they are skipped)")
    run.add_argument("--regrade", action="append", metavar="NAME",
                     help="in a class: grade NAME again even if already graded with the same content and "
                          "configuration (its folder's name in --out, or its path; repeat it or separate names with "
                          "commas for several); a NAME that is no submission of the run is an error")
    run.add_argument("--budget", metavar="NAME",
                     help="the training budget: default (the spec's [training]: quick, works on the data the grader "
                          "finds offline) or one the spec names in [training.budgets], its description in the spec "
                          "(such as a budget on the whole data set, which then needs --data or a declared source "
                          "holding it)")
    run.add_argument("--cache", metavar="DIR",
                     help="keep memoized trainings in DIR, shared by shards and reruns, also by machines that share "
                          "a file system, written without locks (default: .training-cache in the --out folder): each "
                          "distinct model (layers, compile settings, data, seed, budget) is trained once and its "
                          "results reused, identical to a fresh training")
    run.add_argument("--no-cache", action="store_true",
                     help="train every submission's model afresh and keep nothing")
    run.add_argument("--shard", metavar="K/N",
                     help="grade only the K-th of N equal shares of the submissions, K from 1 to N (for CI matrices, "
                          "Slurm job arrays, Kubernetes Indexed Jobs: see docs/cluster.md); implies --exit-status "
                          "grader unless it is given")
    run.add_argument("--exit-status", choices=list(EXIT_STATUS_KINDS), default=None,
                     help=f"what the exit status reports. {EXIT_OF_SUBMISSIONS} (the default without --shard): 0 "
                          "every submission passed (or reached --pass-mark), 1 some lost points, 2 a grader fault or a "
                          f"hand-in with nothing to grade (missing, unreadable). {EXIT_OF_GRADER} (the default with "
                          "--shard): 0 once every submission has a verdict, a grade or such a status, whatever the "
                          "scores, so that a batch scheduler counts the job as done (Slurm's afterok, a Kubernetes "
                          "Job's retries); 2 only for a usage error or a fault of the grader itself, which a rerun "
                          "grades again")
    run.add_argument("--pass-mark", type=_pass_mark, metavar="MARK",
                     help="least score that passes, in points (7) or percent of the maximum (70%%); sets the exit "
                          "status of --exit-status submissions and each line's passed or not passed (default: every "
                          "check must pass)")
    _isolation_option(run)
    _timings_option(run, "; also written in results.json (extra_data.timings). One submission only")
    run.add_argument("--github", action="store_true",
                     help="report to GitHub Actions: step summary (also written to DIR/summary.md for a pull-request "
                          "comment), annotations on the submission, the legacy `Points X/Y` notice (on by default "
                          "when GITHUB_ACTIONS=true)")
    _verbose_option(run)
    run.set_defaults(handler=_run, grades=True)

    export = commands.add_parser("export", help="build an autograder, or a grades file, for a course platform",
                                 description="gradescope: build a zip to upload as a Gradescope programming "
                                             "assignment's autograder (see docs/gradescope.md). classroom50: write "
                                             "the folder <classroom>/autograders/<slug>/ of a Classroom 50 course "
                                             "(autograder.py, a wheel of the grader, the assignment's spec and "
                                             "reference solution; see docs/classroom50.md). canvas: write the "
                                             "scores graded into GRADES_DIR as a file Canvas' gradebook imports "
                                             "(Grades, Import), one row per student of --roster (see docs/canvas.md).")
    export.add_argument("platform", choices=["gradescope", "classroom50", "canvas"], help="the platform to build for")
    export.add_argument("grades", nargs="*", metavar="GRADES_DIR",
                        help="canvas: the --out folder(s) of `grader run` holding <name>/results.json")
    _assignment_options(export, assignment="gradescope, classroom50: the assignment's name in the course folder or a "
                                           "path to its assignment.toml (default: default_assignment in "
                                           "assignments/course.toml)",
                        data="gradescope: a data set to put in the zip (default: the spec's data sources)")
    export.add_argument("--out", "-o", metavar="FILE",
                        help="the file to write (default: autograder.zip for gradescope, canvas.csv for canvas); for "
                             "classroom50 the folder (default: autograders/<assignment>)")
    export.add_argument("--title", metavar="TITLE",
                        help="canvas: the assignment's column as Canvas names it, with its id to update that "
                             "assignment, e.g. \"Lab 2 (1234)\" (required)")
    _roster_options(export, required_for="canvas")
    export.add_argument("--excuse-missing", action="store_true",
                        help="canvas: give students without a submission EX (excused) instead of an empty cell, "
                             "which leaves their grade as it is")
    export.set_defaults(handler=_export)

    check = commands.add_parser("check", help="run the public checks on your work quickly and say what to fix",
                                description="Run the assignment's checks on your .py module, notebook or folder, "
                                            "training on fewer images than the final grading (same minimum "
                                            "accuracy), and print what is wrong and what to try next. Hidden checks "
                                            "are named only. Exit status: 0 every visible check passed, 1 not yet, "
                                            "2 usage error or grader fault.")
    check.add_argument("submission", metavar="SUBMISSION", help="your .py file, .ipynb notebook or the folder holding it")
    _assignment_options(check, assignment="a student kit's folder, an installed kit's name (digits, fashion), or, in "
                                          "the course folder, an assignment's name or assignment.toml (default: the "
                                          "kit beside SUBMISSION, else the one whose functions it defines)",
                        data="in the course folder: the data to check on (a kit brings its own)")
    check.add_argument("--full", action="store_true",
                       help="in the course folder: train with the grading budget instead of the quick one")
    check.add_argument("--out", "-o", metavar="DIR",
                       help="also write results.json and report.html of the check into DIR (for a student's CI)")
    check.add_argument("--github", action="store_true",
                       help="report to GitHub Actions: step summary and annotations on the submission (on by default "
                            "when GITHUB_ACTIONS=true; needs --out)")
    _isolation_option(check)
    _timings_option(check, "")
    _verbose_option(check)
    check.set_defaults(handler=_check, grades=True)

    release = commands.add_parser("release", help="make an assignment's student kit from the course folder",
                                  description="Grade ASSIGNMENT's reference solution at the self-check's budget and "
                                              "write the student kit: the template module and notebook, the public "
                                              "part of the spec, the public images the self-check uses and the "
                                              "reference's answers to the public checks, as data, with SHA256SUMS. "
                                              "No code of the reference and nothing of the hidden checks goes in it. "
                                              "See docs/authoring.md.")
    release.add_argument("assignment", metavar="ASSIGNMENT", help="the assignment's name in the course folder, or a "
                                                                  "path to its assignment.toml")
    release.add_argument("--out", "-o", metavar="DIR", help="the kit's folder (default: kits/<name>/ in the course)")
    release.add_argument("--data", metavar="PATH", help="the data (default: the spec's first source present)")
    _verbose_option(release)
    release.set_defaults(handler=_release, grades=True)

    kit = commands.add_parser("kit", help="copy an installed student kit (template, notebook, public checks) to start work",
                              description="Copy the student kit NAME installed with the grader (the example "
                                          "course's: digits, fashion) into DIR: the template module and notebook "
                                          "to work in, and what `grader check` needs to check them. It holds no "
                                          "answers to copy from.")
    kit.add_argument("name", metavar="NAME", help="the kit's name")
    kit.add_argument("--out", "-o", metavar="DIR", help="where to copy it (default: ./NAME)")
    kit.set_defaults(handler=_kit)

    assign = commands.add_parser("assign", help="make the student notebook and module from the instructor's notebook",
                                 description="Write SOURCE's student notebook and module into DIR, each solution "
                                             "replaced by `raise NotImplementedError(hint)`, outputs and metadata "
                                             "cleared; with --solutions-out, also the reference module. See "
                                             "docs/notebooks.md for the markers.")
    assign.add_argument("source", metavar="SOURCE", help="the instructor's notebook, with # BEGIN/END SOLUTION markers")
    assign.add_argument("--out", "-o", required=True, metavar="DIR", help="folder for the student notebook and module")
    assign.add_argument("--solutions-out", metavar="DIR2", help="folder for the reference module (default: not written)")
    assign.set_defaults(handler=_assign)
    validate = commands.add_parser("validate", help="check an assignment: the reference earns full marks, the template "
                                                    "zero, and the accuracy threshold has a margin",
                                   description="Grade ASSIGNMENT's reference solution (it must earn full marks) and "
                                               "student template (it must earn zero, every function reported as not "
                                               "implemented), then train the reference model for the calibration "
                                               "seeds at the grading budget and the self-check's and report its "
                                               "accuracy against the threshold. Exit status: 0 valid, 1 problems "
                                               "found, 2 usage error. See docs/authoring.md.")
    validate.add_argument("assignment", metavar="ASSIGNMENT", help="bundled assignment name or path to an assignment.toml")
    validate.add_argument("--data", metavar="PATH", help="the data to grade on (default: the spec's first source present)")
    validate.add_argument("--seeds", type=int, nargs="*", default=[], metavar="SEED",
                          help="more seeds to train the reference with, besides the spec's (e.g. --seeds 1 2 3 4)")
    _verbose_option(validate)
    validate.set_defaults(handler=_validate, grades=True)
    book = commands.add_parser("gradebook", help="merge the outputs of several runs (shards) into one gradebook",
                               description="Read DIR/<name>/results.json from each DIR (the --out folders of earlier "
                                           "`grader run`s, e.g. one per CI shard) and write gradebook.csv and index.html "
                                           "into --out.")
    book.add_argument("folders", nargs="+", metavar="DIR", help="output folders of earlier runs")
    book.add_argument("--out", "-o", default="gradebook", metavar="DIR", help="where to write (default: gradebook)")
    _roster_options(book, required_for=None)
    book.set_defaults(handler=_gradebook)
    return parser


def _validate(args: argparse.Namespace) -> int:
    from grader.authoring import validate

    found = validate.validate(args.assignment, data=args.data, seeds=tuple(args.seeds))
    print(found.text)
    return EXIT_PASSED if found.ok else EXIT_FAILED


def _gradebook(args: argparse.Namespace) -> int:
    from grader.views import gradebook

    folders = [Path(f) for f in args.folders]
    students = _students(folders, args) if args.roster else None
    paths = gradebook.merge(folders, Path(args.out), students=students)
    print(f"Wrote {paths['gradebook']} and {paths['index']}")
    return EXIT_PASSED


def _pass_mark(text: str):
    from grader.passmark import PassMarkError, parse

    try:
        return parse(text)
    except PassMarkError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _run(args: argparse.Namespace) -> int:
    from grader import api, scratch
    from grader.platforms import classroom50, github

    for folder in (args.out, args.cache):  # where an interrupted run's unfinished files are removed from
        if folder:
            scratch.watch(Path(folder))
    reporting = github.enabled(args.github)
    for_classroom50 = classroom50.enabled()
    outcomes = api.run(submissions=[Path(s) for s in args.submissions], assignment=args.assignment,
                       out=Path(args.out), data=args.data, keep_gpu=args.gpu, pass_mark=args.pass_mark,
                       github=reporting, jobs=args.jobs, force=_force(args.force, args.regrade), shard=args.shard,
                       isolation=args.isolation, timings=args.timings, budget=args.budget,
                       cache=Path(args.cache) if args.cache else None, memoize=not args.no_cache,
                       classroom50=for_classroom50, exit_status=args.exit_status)
    if args.junit:
        from grader.platforms import junit

        junit.write(Path(args.junit), [outcome.results for outcome in outcomes])
    text = _outcomes_text(outcomes, as_json=args.json)
    print(github.inert(text) if reporting else text)  # the submissions' words, never read as workflow commands
    for outcome in outcomes:
        if "classroom50" in outcome.paths:
            print(classroom50.describe(outcome.paths["classroom50"], outcome.results), file=sys.stderr)
    _print_timings(args.timings)
    return max(outcome.exit_status for outcome in outcomes)


def _force(everything: bool, names: list[str] | None) -> bool | tuple[str, ...]:
    """--force: True; --regrade NAME[,NAME] (repeatable): the names; neither: False."""
    if everything:
        return True
    return tuple(name for value in names or () for name in value.split(",") if name)


def _outcomes_text(outcomes: list, *, as_json: bool) -> str:
    """One submission: its summary table (or results.json). A class: a line each (or a JSON line each) and a tally."""
    from grader.results import NOT_GRADED, status_of

    if not any(outcome.in_class for outcome in outcomes):
        return "\n".join(json.dumps(o.results, indent=2) if as_json else o.summary for o in outcomes)
    if as_json:
        return "\n".join(json.dumps(o.results, separators=(",", ":")) for o in outcomes)
    lines = [outcome.line for outcome in outcomes]
    statuses = [outcome.verdict_status for outcome in outcomes]
    unread = sum(status_of(o.results) in NOT_GRADED for o in outcomes)
    faults = sum(bool(o.results["extra_data"].get("grader_faults")) for o in outcomes)
    folders = sorted({str(o.paths["results"].parent.parent) for o in outcomes})
    graded_as = ", ".join(sorted({str(o.results["extra_data"].get("assignment", "")) for o in outcomes}))
    tally = (f"{len(outcomes)} submission(s) of {graded_as}: {statuses.count(EXIT_PASSED)} passed, {statuses.count(EXIT_FAILED)} "
             f"not passed, {unread} not graded, {faults} with a grader fault. Gradebook: "
             + ", ".join(f"{folder}/gradebook.csv" for folder in folders))
    return "\n".join([*lines, tally])


def _print_timings(wanted: bool) -> None:
    from grader import timings

    recorder = timings.current()
    if wanted and recorder is not None:
        print(timings.table(recorder.to_dict()), file=sys.stderr, flush=True)


def _students(folders: list[Path], args: argparse.Namespace) -> dict[str, str]:
    from grader.platforms import canvas

    return canvas.student_names(folders, roster=Path(args.roster), match=args.match)


def _export(args: argparse.Namespace) -> int:
    from grader.platforms import gradescope

    if args.platform == "canvas":
        return _export_canvas(args)
    if args.platform == "classroom50":
        return _export_classroom50(args)
    if args.grades or args.roster or args.title:
        raise UsageError("GRADES_DIR, --roster and --title are for `grader export canvas`; "
                         "`grader export gradescope` takes --assignment, --data and --out.")
    path = gradescope.export(assignment=args.assignment, out=Path(args.out or "autograder.zip"), data=args.data)
    print(f"Wrote {path}: upload it as the autograder of a Gradescope programming assignment.")
    return EXIT_PASSED


def _export_classroom50(args: argparse.Namespace) -> int:
    from grader.assignment import course
    from grader.platforms import classroom50_autograder as autograder

    if args.grades or args.roster or args.title or args.data:
        raise UsageError("GRADES_DIR, --roster, --title and --data are not for `grader export classroom50`, which "
                         "takes --assignment and --out; it grades on the data the spec's sources find.")
    out = Path(args.out) if args.out else Path("autograders") / course.resolve(args.assignment).name
    try:
        paths = autograder.export(assignment=args.assignment, out=out)
    except autograder.ExportError as exc:
        raise UsageError(str(exc)) from exc
    print(f"Wrote {out}/ ({len(paths)} files): copy it to <classroom>/autograders/<slug>/ in your classroom50 "
          "repository (see docs/classroom50.md).")
    return EXIT_PASSED


def _export_canvas(args: argparse.Namespace) -> int:
    from grader.platforms import canvas

    if not args.grades or not args.roster or args.title is None:
        raise UsageError("grader export canvas needs GRADES_DIR, --roster ROSTER.csv and --title TITLE, e.g. "
                         "`grader export canvas grades --roster roster.csv --title \"Lab 2 (1234)\"`.")
    done = canvas.export([Path(g) for g in args.grades], roster=Path(args.roster), title=args.title,
                         out=Path(args.out or "canvas.csv"), match=args.match, excuse_missing=args.excuse_missing)
    print(canvas.describe(done))
    return EXIT_PASSED


def _check(args: argparse.Namespace) -> int:
    from grader.grading import selfcheck
    from grader.platforms import github

    reporting = github.enabled(args.github)
    if args.github and not args.out:
        raise UsageError("--github reports the files of --out DIR: give --out too (e.g. --out grading-out).")
    outcome = selfcheck.check(Path(args.submission), assignment=args.assignment, data=args.data, full=args.full,
                              isolation=args.isolation, timings=args.timings, ahead=True,
                              out=Path(args.out) if args.out else None, github=reporting and bool(args.out))
    print(github.inert(outcome.text) if reporting else outcome.text)
    _print_timings(args.timings)
    return outcome.exit_status


def _release(args: argparse.Namespace) -> int:
    from grader.authoring import release

    paths = release.release(args.assignment, out=Path(args.out) if args.out else None, data=args.data)
    print("\n".join(f"Wrote {path}" for path in paths))
    return EXIT_PASSED


def _kit(args: argparse.Namespace) -> int:
    from grader.assignment import course, kit

    source = course.installed_kits() / args.name
    if not kit.is_kit(source):
        known = ", ".join(sorted(p.parent.name for p in course.installed_kits().glob(f"*/{kit.SPEC}")))
        raise UsageError(f"no installed kit called {args.name!r} (there are: {known or 'none'}); a course's own kit "
                         "comes from its instructor.")
    out = Path(args.out or args.name)
    paths = kit.copy(source, out)
    task = kit.load(out)
    print(f"Copied the {args.name} kit into {out} ({len(paths)} files). Write your functions in {out / task.module}, "
          f"then check them with: grader check {out / task.module}")
    return EXIT_PASSED


def _assign(args: argparse.Namespace) -> int:
    from grader.authoring import assign

    solutions = Path(args.solutions_out) if args.solutions_out else None
    paths = assign.assign(Path(args.source), out=Path(args.out), solutions_out=solutions)
    print("\n".join(f"Wrote {path}" for path in paths))
    return EXIT_PASSED


def entry() -> None:
    """The `grader` program: run the command line, then leave without tearing the interpreter down.

    Everything is written and closed by then, and an orderly shutdown of an interpreter holding
    TensorFlow takes about a second that no one waits for on purpose. Whatever the command started is
    killed before it leaves, on an interrupt as at its normal end (see grader.interrupts, grader.orphans).
    """
    from grader import orphans, scratch, timings

    timings.begin()  # from the process's start: the interpreter's own start-up is part of every command
    scratch.begin()
    orphans.become_reaper()
    interrupts.install(_leave)
    status = EXIT_ERROR
    try:
        try:
            status = main()
        except SystemExit as done:  # --help, --version and argparse's usage errors, which have printed their message
            status = done.code if isinstance(done.code, int) else EXIT_PASSED if done.code is None else EXIT_ERROR
        sys.stdout.flush()
        sys.stderr.flush()
    except KeyboardInterrupt:  # a signal after main() returned: the status says which
        pass
    _leave(interrupts.exit_status(status))


_LEAVING = threading.Lock()


def _leave(status: int) -> None:
    """Kill every process the command started, remove their temporary folders and unfinished files, and exit.

    Called by the main thread at the end, or by grader.interrupts' thread when an interrupt is not obeyed in time.
    """
    from grader import orphans, scratch
    from grader.sandbox import cgroups

    _LEAVING.acquire()  # once: the other caller waits here until the process exits
    interrupts.hold()
    orphans.end_descendants()  # first: none of them may write anything once the command has ended
    cgroups.remove_run()
    scratch.remove()
    os._exit(status)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    from grader import tflog
    from grader.sandbox import zygote

    try:
        with tflog.quiet(verbose=getattr(args, "verbose", False)):  # before TensorFlow is imported, here or below
            if getattr(args, "grades", False):  # its TensorFlow import starts now, beside the grader's own start-up
                zygote.prestart(keep_gpu=bool(getattr(args, "gpu", False)))
            return args.handler(args)
    except GraderError as error:
        return _report(error)
    except KeyboardInterrupt as stop:  # every process it started is killed on the way out (entry)
        print(f"grader: interrupted ({stop}); what was graded is kept, and a rerun resumes after it", file=sys.stderr)
        return stop.exit_status if isinstance(stop, interrupts.Interrupted) else EXIT_SIGNALLED + signal.SIGINT
    except Exception:  # noqa: BLE001 - a bug of the grader's must not pass for a failed submission (exit 1)
        _print_internal_error()
        return EXIT_ERROR
    finally:
        zygote.discard()  # one the command did not use (it stopped before it graded)


# The exit status of each kind of the grader's own errors (grader.errors), the first that matches.
_EXIT_STATUSES: tuple[tuple[type[GraderError], int], ...] = ((UsageError, EXIT_ERROR), (GraderFault, EXIT_ERROR))


def _report(error: GraderError) -> int:
    """Say on stderr what went wrong and return its exit status: bad input in one line that says what to do, a fault
    of the grader's own with its traceback, as any bug of the grader is reported."""
    if isinstance(error, UsageError):
        print(f"grader: error: {error}", file=sys.stderr)
    else:
        _print_internal_error()
    return next((status for kind, status in _EXIT_STATUSES if isinstance(error, kind)), EXIT_ERROR)


def _print_internal_error() -> None:
    """The exception being handled, and that it is the grader's failure, not the submission's."""
    import traceback

    traceback.print_exc()
    print("grader: internal error: the grader itself failed (above); this is not the submission's fault.",
          file=sys.stderr)


if __name__ == "__main__":
    entry()

"""A class graded on a cluster with the scripts of docs/cluster/slurm/: the shards of a Slurm job array share one
training cache, every shard succeeds although students lost points, the merge job that waits for them all
(--dependency=afterok) runs, and its gradebook is the one a single `grader run` writes, each distinct model trained
once. A one-node Slurm cluster (Debian's slurm-wlm and munge) is started for it in a temporary folder."""

from __future__ import annotations

import csv
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, SOLUTION, SUBMISSIONS, TEMPLATE
from grader.trusted import memo

SLURM = ROOT / "docs" / "cluster" / "slurm"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])  # the daemons are in sbin

# Twelve hand-ins. The seed's model and compile settings in four (the reference; one that loses normalise's point,
# one that crashes in predict, one that loses reshape's), in all three shards: trained once for the four. Six other
# trainings: correct solutions that compile with a loss object (two, which the key tells apart from the string
# 'sparse_categorical_crossentropy'), two other models, another optimizer. Three without a model to train: the
# template, one that exits when imported, an empty folder (status missing, a verdict on the hand-in, not a grader
# fault). About a second of training each at the test budget.
CLASS = {
    "ada": SOLUTION,
    "ben": SUBMISSIONS / "solution_variant.py",
    "cy": SUBMISSIONS / "normalise_twice.py",
    "dee": SUBMISSIONS / "predict_os_exit.py",
    "eve": SUBMISSIONS / "exit_at_import.py",
    "fay": SUBMISSIONS / "model_dense64.py",
    "gus": TEMPLATE,
    "hal": SUBMISSIONS / "solution_functional.py",
    "ida": SUBMISSIONS / "compile_sgd.py",
    "jo": None,
    "kim": SUBMISSIONS / "reshape_flat.py",
    "lee": SUBMISSIONS / "model_no_dropout.py",
}


def _class(folder: Path) -> list[Path]:
    for name, source in CLASS.items():
        (folder / name).mkdir(parents=True)
        if source is not None:
            (folder / name / "digits.py").write_text(source.read_text())
    return sorted(folder.iterdir())


def _rows(path: Path) -> dict[str, dict[str, str]]:
    """gradebook.csv by submission, without its one timing column."""
    with open(path, newline="") as handle:
        return {row["name"]: {k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)}


# -- the scripts' arguments, without a cluster ------------------------------------------------------------------

FAKE = "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$0.args\"\n"  # records its arguments, one a line


def _script(tmp_path: Path, script: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    fake = tmp_path / "bin" / "grader"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(FAKE)
    fake.chmod(0o755)
    Path(f"{fake}.args").unlink(missing_ok=True)
    done = subprocess.run(["bash", str(SLURM / script)], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], "GRADER": str(fake), **env})
    args = Path(f"{fake}.args").read_text().splitlines() if Path(f"{fake}.args").exists() else []
    return done, args


def test_the_sbatch_scripts_give_array_task_i_shard_i_plus_1_and_refuse_an_array_that_misses_shards(tmp_path):
    (tmp_path / "subs" / "amy").mkdir(parents=True)
    (tmp_path / "subs" / "bob").mkdir()
    array = {"SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "2"}
    done, args = _script(tmp_path, "grade.sbatch", SLURM_ARRAY_TASK_ID="2", SLURM_CPUS_PER_TASK="4",
                         SUBMISSIONS="subs", GRADES="/shared/g", ASSIGNMENT="digits", **array)
    assert done.returncode == 0, done.stderr
    assert args == ["run", "subs/amy", "subs/bob", "--shard", "3/3", "--out", "/shared/g/shard-3",
                    "--cache", "/shared/g/.training-cache", "--jobs", "4", "--assignment", "digits"]
    done, args = _script(tmp_path, "grade.sbatch", SLURM_ARRAY_TASK_ID="0", CACHE="/nfs/cache", **array)
    assert args[args.index("--shard") + 1] == "1/3" and args[args.index("--cache") + 1] == "/nfs/cache"
    assert "--assignment" not in args and args[args.index("--out") + 1] == "grades/shard-1"
    # 1-based or stepped arrays would leave a shard ungraded: refused, saying what to give
    for first, last in (("1", "3"), ("0", "4")):
        done, args = _script(tmp_path, "grade.sbatch", SLURM_ARRAY_TASK_ID=first, SLURM_ARRAY_TASK_COUNT="3",
                             SLURM_ARRAY_TASK_MIN=first, SLURM_ARRAY_TASK_MAX=last)
        assert done.returncode == 2 and not args and "--array=0-2" in done.stderr, done.stderr
    # one shard graded again: SHARDS says N
    done, args = _script(tmp_path, "grade.sbatch", SLURM_ARRAY_TASK_ID="3", SLURM_ARRAY_TASK_COUNT="1",
                         SLURM_ARRAY_TASK_MIN="3", SLURM_ARRAY_TASK_MAX="3", SHARDS="8")
    assert done.returncode == 0 and args[args.index("--shard") + 1] == "4/8", done.stderr
    done, args = _script(tmp_path, "grade.sbatch", SLURM_ARRAY_TASK_ID="8", SHARDS="8")
    assert done.returncode == 2 and not args and "no shard of SHARDS=8" in done.stderr
    done, args = _script(tmp_path, "grade.sbatch")
    assert done.returncode == 2 and "not a task of a job array" in done.stderr
    (tmp_path / "g" / "shard-1").mkdir(parents=True)
    (tmp_path / "g" / "shard-2").mkdir()
    done, args = _script(tmp_path, "merge.sbatch", GRADES="g")
    assert done.returncode == 0 and args == ["gradebook", "g/shard-1", "g/shard-2", "--out", "g/gradebook"]


def test_submit_queues_the_merge_after_every_task_of_the_array(tmp_path):
    fake = tmp_path / "bin" / "sbatch"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"SHARDS=$SHARDS $*\" >> \"$0.calls\"\n"
                    "case \"$*\" in *--array*) echo '41;graders' ;; *) echo 42 ;; esac\n")
    fake.chmod(0o755)
    done = subprocess.run(["bash", str(SLURM / "submit.sh"), "--partition=short"], capture_output=True, text=True,
                          timeout=60, env={"PATH": f"{fake.parent}:{os.environ['PATH']}", "SHARDS": "5"})
    assert done.returncode == 0, done.stderr
    calls = Path(f"{fake}.calls").read_text().splitlines()
    assert calls == [f"SHARDS=5 --parsable --array=0-4 --partition=short {SLURM / 'grade.sbatch'}",
                     f"SHARDS=5 --parsable --dependency=afterok:41 {SLURM / 'merge.sbatch'}"]
    assert "job array 41 (5 shards); merge: job 42" in done.stdout


def test_the_docs_link_every_script_and_manifest_and_the_help_points_to_them():
    from grader import cli

    doc = (ROOT / "docs" / "cluster.md").read_text()
    for path in sorted((ROOT / "docs" / "cluster").rglob("*")):
        if path.is_file():
            assert f"({path.relative_to(ROOT / 'docs').as_posix()})" in doc, path
    for term in ("--array=0-(N-1)", "SLURM_ARRAY_TASK_ID+1", "--dependency=afterok", "JOB_COMPLETION_INDEX",
                 "completionMode: Indexed", "ReadWriteMany", "grade-class.yml", "--exit-status", "DependencyNeverSatisfied"):
        assert term in doc, term
    assert "docs/cluster.md" in (ROOT / "README.md").read_text()
    run_help = cli.build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "--exit-status" in run_help and "docs/cluster.md" in run_help and "K from 1 to N" in run_help


# -- a one-node Slurm cluster -----------------------------------------------------------------------------------

def _unavailable() -> str | None:
    """Why a Slurm cluster cannot be started here, or None."""
    if os.geteuid() != 0:
        return "starting slurmctld and slurmd needs root (and munged the munge user)"
    missing = [name for name in DAEMONS if shutil.which(name, path=SEARCH) is None]
    try:
        pwd.getpwnam("munge")
    except KeyError:
        missing.append("the munge user")
    if missing:
        return f"Slurm is not installed ({', '.join(missing)} missing): apt-get install -y slurm-wlm munge (.ci/run does)"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """munged, slurmctld and slurmd of a cluster of one node, all of whose files are in one temporary folder."""

    def __init__(self) -> None:
        # Not pytest's tmp_path: munged, as the munge user, must reach its socket, and tmp_path's parents are 0700.
        self.folder = Path(tempfile.mkdtemp(prefix="slurm-test-"))
        self.folder.chmod(0o755)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.folder / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf), "PATH": SEARCH}
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        munge = self.folder / "munge"
        munge.mkdir(mode=0o755)
        (munge / "munge.key").write_bytes(os.urandom(1024))
        account = pwd.getpwnam("munge")
        for path in (munge, munge / "munge.key"):
            os.chown(path, account.pw_uid, account.pw_gid)
        (munge / "munge.key").chmod(0o400)
        socket_path = munge / "munge.socket"
        self._daemon([shutil.which("munged", path=SEARCH), "-F", f"--key-file={munge / 'munge.key'}",
                      f"--socket={socket_path}", f"--pid-file={munge / 'munged.pid'}",
                      f"--log-file={munge / 'munged.log'}", f"--seed-file={munge / 'munged.seed'}"],
                     "munged", user=account.pw_uid, group=account.pw_gid)
        self._wait(socket_path.exists, 20, "munged did not open its socket")
        for folder in ("state", "spool"):
            (self.folder / folder).mkdir()
        self.conf.write_text(self._conf(socket_path))
        self._daemon([shutil.which("slurmctld", path=SEARCH), "-D", "-f", str(self.conf)], "slurmctld")
        self._daemon([shutil.which("slurmd", path=SEARCH), "-D", "-f", str(self.conf)], "slurmd")
        self._wait(lambda: self.run("sinfo", "-h", "-o", "%T").stdout.strip() == "idle", 90,
                   "the node did not become idle")

    def _conf(self, munge_socket: Path) -> str:
        with open("/proc/meminfo") as handle:
            memory = int(next(line.split()[1] for line in handle if line.startswith("MemTotal"))) // 1024
        return "\n".join([
            "ClusterName=graders",
            f"SlurmctldHost={self.host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={munge_socket}",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={self.folder / 'state'}",
            f"SlurmdSpoolDir={self.folder / 'spool'}",
            f"SlurmctldPidFile={self.folder / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.folder / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.folder / 'slurmctld.log'}",
            f"SlurmdLogFile={self.folder / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "ReturnToService=2",
            "JobCompType=jobcomp/none",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            # Three CPUs on a machine of two: the three shards run at once, racing on the cache.
            "SlurmdParameters=config_overrides",
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs=3 RealMemory={max(1024, memory - 1024)} State=UNKNOWN",
            f"PartitionName=grading Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
        ]) + "\n"

    def _daemon(self, command: list[str], name: str, **kwargs) -> None:
        log = open(self.folder / f"{name}.out", "wb")
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                               stdin=subprocess.DEVNULL, **kwargs))
        log.close()

    def _wait(self, ready, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            dead = [p.args[0] for p in self.processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                pytest.fail(f"{what} within {seconds} s{f' ({dead} ended)' if dead else ''}:\n{self.logs()}")
            time.sleep(0.5)

    def run(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(command), env=self.env, capture_output=True, text=True, timeout=60)

    def logs(self) -> str:
        parts = []
        for path in sorted(self.folder.glob("*.out")) + sorted(self.folder.glob("*.log")):
            parts.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-25:]))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, then stop slurmd, slurmctld and munged (in that order), however the test ended."""
        try:
            if len(self.processes) == 3 and all(p.poll() is None for p in self.processes):
                self.run("scancel", "--user=root")
                deadline = time.monotonic() + 30
                while self.run("squeue", "-h").stdout.strip() and time.monotonic() < deadline:
                    time.sleep(0.5)
        except subprocess.TimeoutExpired:
            pass  # slurmctld does not answer: its jobs end with it
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def slurm():
    reason = _unavailable()
    if reason:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(reason)  # CI installs Slurm: there it must run
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _job(cluster: Cluster, job: str) -> dict[str, str]:
    """`scontrol show job`'s fields of a job (the first task, for an array), or {} once it is forgotten."""
    shown = cluster.run("scontrol", "show", "job", "--oneliner", job).stdout
    return dict(re.findall(r"(\w+)=(\S*)", shown.splitlines()[0])) if shown.strip() else {}


@pytest.mark.slow
def test_a_class_graded_as_a_slurm_job_array_merges_to_the_grades_of_one_run(tmp_path: Path, fast_course: Path,
                                                                              slurm: Cluster) -> None:
    submissions = _class(tmp_path / "submissions")
    grades = tmp_path / "grades"
    settings = {"SHARDS": "3", "SUBMISSIONS": str(tmp_path / "submissions"), "GRADES": str(grades),
                "ASSIGNMENT": str(fast_course), "TF_CPP_MIN_LOG_LEVEL": "2",
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{slurm.env['PATH']}"}  # this environment's grader
    began = time.monotonic()
    # One CPU a task: the three shards run at once on the node's three CPUs, as on three machines.
    done = subprocess.run(["bash", str(SLURM / "submit.sh"), "--cpus-per-task=1"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={**slurm.env, **settings})
    assert done.returncode == 0, done.stderr + slurm.logs()
    array, merge = re.search(r"job array (\d+) \(3 shards\); merge: job (\d+)", done.stdout).groups()

    merged = grades / "gradebook" / "gradebook.csv"
    deadline = time.monotonic() + 420
    while slurm.run("squeue", "-h", "-j", f"{array},{merge}").stdout.strip():
        waiting = _job(slurm, merge).get("Reason", "")
        logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("grade-*.out")))
        assert waiting != "DependencyNeverSatisfied", f"a shard failed, so the merge never runs:\n{logs}"
        assert time.monotonic() < deadline, f"the jobs did not finish in 7 minutes:\n{logs}\n{slurm.logs()}"
        time.sleep(1)
    shards_seconds = time.monotonic() - began
    logs = {p.name: p.read_text() for p in sorted(tmp_path.glob("grade-*.out"))}
    for task in range(3):
        state = _job(slurm, f"{array}_{task}")
        assert (state.get("JobState"), state.get("ExitCode")) == ("COMPLETED", "0:0"), (state, logs)
    assert (_job(slurm, merge).get("JobState"), _job(slurm, merge).get("ExitCode")) == ("COMPLETED", "0:0"), logs
    assert merged.is_file() and f"Wrote {merged}" in logs[f"grade-merge-{merge}.out"], logs

    # Each shard graded its share (every third name, from the K-th) into its own folder.
    names = sorted(CLASS)
    for k in (1, 2, 3):
        assert sorted(p.parent.name for p in (grades / f"shard-{k}").glob("*/results.json")) == names[k - 1::3]
    results = {p.parent.name: json.loads(p.read_text()) for p in grades.glob("shard-*/*/results.json")}
    rows = _rows(merged)
    assert set(rows) == set(CLASS)
    assert rows["ada"]["status"] == "passed" and rows["jo"]["status"] == "missing"
    assert {"failed", "passed", "missing"} <= {row["status"] for row in rows.values()}
    assert rows["dee"]["predict"] == "0.0" and float(rows["dee"]["score"]) == 8  # crashed in predict: its points
    # Each distinct model was trained once across the three shards; every other submission with it reused it.
    trainings: dict[str, list[bool]] = {}
    for name, result in results.items():
        record = memo.recorded(result)
        if record:
            trainings.setdefault(record["key"], []).append(record["reused"])
    seed = {memo.recorded(results[name])["key"] for name in ("ada", "cy", "dee", "kim")}
    assert len(seed) == 1 and sorted(trainings[seed.pop()]) == [False, True, True, True], trainings
    assert len(trainings) == 6 and all(reuses.count(False) == 1 for reuses in trainings.values()), trainings
    assert len(list((grades / ".training-cache").glob("*.json"))) == len(trainings)

    # A single run of the same twelve: the same rows and scores. It exits 2 (a hand-in with nothing to grade): the
    # statuses of a run that is not a shard are as before.
    whole = subprocess.run([sys.executable, "-m", "grader", "run", *map(str, submissions), "--assignment",
                            str(fast_course), "--out", str(tmp_path / "whole"), "--jobs", "2"], capture_output=True,
                           text=True, timeout=600, cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert whole.returncode == 2, whole.stderr[-3000:]
    assert rows == _rows(tmp_path / "whole" / "gradebook.csv")
    print(f"shards and merge: {shards_seconds:.0f} s; the whole test: {time.monotonic() - began:.0f} s")

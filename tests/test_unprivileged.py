"""The sandbox's defences when the grader itself runs as an ordinary user, not root.

When the suite runs as root (as CI does), this re-runs tests/test_confinement.py and
tests/test_sandbox.py and tests/test_fallbacks.py as an unprivileged user, in the small environment `.ci/run` prepares
(/opt/grader-unprivileged: Debian's Python with numpy and pytest; the grader from a copy of this
checkout). The layers then differ: a user namespace instead of a uid of its own, no cgroup (an
address-space rlimit instead), Landlock and seccomp as for root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT

PYTHON = Path("/opt/grader-unprivileged/bin/python")
USER = "grader-unprivileged"


@pytest.mark.slow
def test_the_sandbox_holds_when_the_grader_is_an_unprivileged_user() -> None:
    if os.getuid() != 0:
        pytest.skip("the suite already runs as an unprivileged user: test_confinement.py shows it directly")
    if not PYTHON.exists() or shutil.which("runuser") is None:
        pytest.skip(f"no unprivileged environment at {PYTHON.parent.parent}: `.ci/run`, run as root, prepares it")
    import pwd

    try:
        account = pwd.getpwnam(USER)
    except KeyError:
        pytest.skip(f"no user {USER!r}: `.ci/run`, run as root, creates it")
    tmp_path = Path(tempfile.mkdtemp(prefix="grader-unprivileged-"))  # pytest's own folders are private to root
    try:
        copy = tmp_path / "checkout"
        for name in ("grader", "tests"):
            shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        for folder in (tmp_path, *(p for p in copy.rglob("*") if p.is_dir()), copy):
            os.chmod(folder, 0o755)
        os.chown(tmp_path, account.pw_uid, account.pw_gid)
        # The zygote runs `python -I`, which ignores PYTHONPATH: the copy goes on the environment's path for this run.
        site = subprocess.run([str(PYTHON), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        link = Path(site) / "grader-under-test.pth"
        link.write_text(f"{copy}\n")
        try:
            output = _run_as(account, copy, tmp_path)
        finally:
            link.unlink()
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)
    assert " passed" in output and " failed" not in output and " error" not in output.lower(), output[-4000:]


def _run_as(account, copy: Path, home: Path) -> str:
    done = subprocess.run(
        [shutil.which("runuser"), "-u", USER, "--", str(PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore",
         "tests/test_confinement.py", "tests/test_sandbox.py", "tests/test_fallbacks.py"],
        cwd=copy, capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(home),
             "LANG": "C.UTF-8", "TMPDIR": str(home)},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output

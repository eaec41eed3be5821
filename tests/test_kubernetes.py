"""The Kubernetes manifests of docs/cluster/kubernetes/: valid against Kubernetes' own schemas (kubernetes-validate
bundles them: no cluster, no network), and what they run is what docs/cluster.md says: an Indexed Job whose index i
grades shard i+1 of N into a ReadWriteMany volume with one shared training cache, and a merge Job reading it."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes_validate import utils as schemas

from conftest import ROOT

FOLDER = ROOT / "docs" / "cluster" / "kubernetes"
# The oldest release with every field the Job uses (backoffLimitPerIndex), and a recent one.
VERSIONS = ("1.29", "1.33")


def _load(name: str) -> dict:
    (resource,) = [r for r in yaml.safe_load_all((FOLDER / name).read_text()) if r]
    return resource


def _validate(resource: dict, version: str) -> None:
    """Raise unless `resource` is valid for Kubernetes `version`, unknown fields refused (a kind it has no schema for
    is an error, not the command line's warning)."""
    try:
        schemas.validate(resource, version, strict=True)
    except schemas.SchemaNotFoundError as missing:
        raise AssertionError(missing.message) from None


def _pod(resource: dict) -> dict:
    return resource["spec"]["template"]["spec"] if resource["kind"] == "Job" else resource["spec"]


def _run(container: dict, tmp_path: Path, **env: str) -> list[str]:
    """The arguments `grader` gets when the container's command runs under /bin/sh with `env` (a stand-in grader
    on PATH records them)."""
    fake = tmp_path / "bin" / "grader"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text("#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$0.args\"\n")
    fake.chmod(0o755)
    values = {item["name"]: item["value"] for item in container.get("env", [])}
    subprocess.run([*container["command"], *container["args"]], check=True, timeout=30, cwd=tmp_path,
                   env={"PATH": f"{fake.parent}:{os.environ['PATH']}", **values, **env})
    return Path(f"{fake}.args").read_text().splitlines()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(p.name for p in FOLDER.glob("*.yaml")))
def test_every_manifest_is_valid_for_kubernetes(name: str, version: str) -> None:
    _validate(_load(name), version)


def test_the_validation_refuses_what_kubernetes_would() -> None:
    job = _load("grade-job.yaml")
    spoils = {
        "a misspelt field, refused rather than ignored": lambda j: j["spec"].update(completion=8),
        "a container without its name": lambda j: _pod(j)["containers"][0].pop("name"),
        "a number of shards as text": lambda j: j["spec"].update(completions="8"),
        "a failure policy's condition without its status": lambda j: j["spec"]["podFailurePolicy"]["rules"][0][
            "onPodConditions"][0].pop("status"),
    }
    for why, spoil in spoils.items():
        spoilt = copy.deepcopy(job)
        spoil(spoilt)
        with pytest.raises(schemas.ValidationError):
            _validate(spoilt, VERSIONS[-1])
            pytest.fail(f"{why} passed")


def test_the_indexed_job_grades_shard_index_plus_1_of_n_into_the_shared_volume(tmp_path: Path) -> None:
    job, claim = _load("grade-job.yaml"), _load("pvc.yaml")
    spec, pod = job["spec"], _pod(job)
    (container,) = pod["containers"]
    shards = next(int(item["value"]) for item in container["env"] if item["name"] == "SHARDS")
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == shards
    assert pod["restartPolicy"] == "Never"
    assert "JOB_COMPLETION_INDEX" in container["args"][0] and "--shard" in container["args"][0]
    for index in (0, shards - 1):
        args = _run(container, tmp_path, JOB_COMPLETION_INDEX=str(index))
        assert args[0] == "run" and args[args.index("--shard") + 1] == f"{index + 1}/{shards}"
        assert args[args.index("--out") + 1] == f"/class/grades/shard-{index + 1}"
    out, cache = args[args.index("--out") + 1], args[args.index("--cache") + 1]
    (mount,) = container["volumeMounts"]
    assert out.startswith(mount["mountPath"] + "/") and cache.startswith(mount["mountPath"] + "/")
    assert args[1].startswith(mount["mountPath"] + "/")  # the submissions too
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"] and volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # the shards' pods, on several nodes, write it at once
    assert pod["securityContext"]["seccompProfile"]["type"] == "Unconfined"  # the sandbox makes namespaces


def test_the_merge_job_reads_every_shard_and_every_pod_is_the_cache_owner(tmp_path: Path) -> None:
    grade, merge, loader = _load("grade-job.yaml"), _load("merge-job.yaml"), _load("loader-pod.yaml")
    (container,) = _pod(merge)["containers"]
    args = _run(container, tmp_path)
    assert args == ["gradebook", "/class/grades/shard-*", "--out", "/class/grades/gradebook"]  # no shard here yet
    assert merge["spec"].get("completionMode", "NonIndexed") == "NonIndexed" and merge["spec"].get("completions", 1) == 1
    for resource in (merge, loader):
        assert _pod(resource)["volumes"] == _pod(grade)["volumes"]
        assert [m["mountPath"] for c in _pod(resource)["containers"] for m in c["volumeMounts"]] == ["/class"]
    # The cache is read back only if its files are the reader's: one user for every pod that writes the volume.
    users = {(_pod(r)["securityContext"]["runAsUser"], _pod(r)["securityContext"]["runAsGroup"])
             for r in (grade, merge, loader)}
    assert len(users) == 1 and next(iter(users))[0] != 0

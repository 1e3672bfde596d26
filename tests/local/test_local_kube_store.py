"""`LocalKube` keeps the TuningJob as the API server does: each read is a copy of the
stored object, and a status write is read back (from status.yaml) exactly as written,
text that looks like another type included. (QA84 M7 replaced the YAML round trip of each
read, which made a long run slower at every trial, and writes with libyaml's emitter.)"""

from __future__ import annotations

import copy
from pathlib import Path

from kubetune.operator.kube import local as local_kube
from support.cli_data import write_directory
from synthetic_tuning_job import synthetic_tuning_job


def test_a_read_is_a_copy_and_a_status_write_reads_back_as_written(tmp_path: Path) -> None:
    directory = write_directory(synthetic_tuning_job("store", 6), tmp_path / "run")
    kube = local_kube.LocalKube(directory)
    first = kube.get_tuning_job("default", "store")
    assert first is not None and first["status"] == local_kube.read_run(directory)["status"]
    kept = copy.deepcopy(first)
    first["status"]["trials"][0]["hyperparameters"]["optimizer"] = "changed"
    first["status"]["trials"].pop()
    assert kube.get_tuning_job("default", "store") == kept  # the reconcile's copy only

    trials = kept["status"]["trials"]
    trials[0]["hyperparameters"] |= {"learning_rate": "1e-05", "optimizer": "yes"}
    trials[0]["message"] = "2026-01-02"
    version = kept["metadata"]["resourceVersion"]
    written = kube.patch_status("default", "store", version, {"trials": trials, "reason": None})
    assert written["status"]["trials"] == trials and "reason" not in written["status"]
    assert local_kube.read_run(directory)["status"] == written["status"]
    written["status"]["trials"].clear()
    assert kube.get_tuning_job("default", "store")["status"]["trials"] == trials  # type: ignore[index]

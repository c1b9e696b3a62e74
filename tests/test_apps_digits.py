"""`mmlearn train --task digits` as a user runs it on the real FSDD recordings: a real subprocess, a real run folder."""
import json
import os
import subprocess

import pytest

from mmlearn.core import fsdd_root


def mmlearn(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MMLEARN_QUIET": "1"}
    return subprocess.run(["mmlearn", *map(str, args)], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.skipif(fsdd_root() is None, reason="MMLEARN_FSDD does not name an FSDD folder")
def test_train_evaluate_predict_on_fsdd(tmp_path):
    fsdd, run = fsdd_root(), tmp_path / "digits"
    r = mmlearn("train", "--task", "digits", "--data", fsdd, "--format", "fsdd", "--samples", 300, "--epochs", 2, "--out", run)
    assert r.returncode == 0, r.stderr
    for name in ("metrics.json", "config.json", "model.keras", "task.json", "training_curves.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["f1_macro"] <= 1 and metrics["accuracy"] > 0.1 + 0.05, metrics   # two epochs on 300 clips: above chance (0.1)
    assert metrics["samples"] == 300 and metrics["train_seconds"] > 0

    e = mmlearn("evaluate", run)
    assert e.returncode == 0, e.stderr
    printed = {l.split()[0]: float(l.split()[1]) for l in e.stdout.splitlines() if l.split()[:1] in (["accuracy"], ["f1_macro"])}
    assert printed["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-4), e.stdout   # the reloaded model scores the same

    wavs = [fsdd / "recordings" / f"{d}_theo_0.wav" for d in (3, 7)]
    p = mmlearn("predict", run, "--audio", wavs[0], "--audio", wavs[1])
    assert p.returncode == 0, p.stderr
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    assert len(lines) == 2 and all(any(w in l for w in words) for l in lines), p.stdout

    bad = mmlearn("predict", run, "--text", "seven")
    assert bad.returncode != 0 and "the digits task takes --audio PATH.wav, not --text" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

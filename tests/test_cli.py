"""The `mmlearn` command as a user calls it: a real subprocess, real files."""
import os
import subprocess
import sys

import pytest

from mmlearn.data.formats import load_clotho, load_flickr8k, load_mosi


def mmlearn(*args, cwd=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MMLEARN_QUIET": "1"}
    return subprocess.run(["mmlearn", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_help_lists_subcommands_with_examples():
    r = mmlearn("--help")
    assert r.returncode == 0
    for cmd in ("data", "bench", "docs"):
        assert cmd in r.stdout
        sub = mmlearn(cmd, "--help")
        assert sub.returncode == 0 and "example: mmlearn " + cmd in sub.stdout


@pytest.mark.parametrize("name,loader,n", [("shapes", load_flickr8k, 12), ("digits", load_flickr8k, 10),
                                           ("sounds", load_clotho, 6), ("speech", load_clotho, 3),
                                           ("sentiment", load_mosi, 6)])
def test_data_writes_a_dataset_the_loader_reads_back(tmp_path, name, loader, n):
    out = tmp_path / name
    r = mmlearn("data", name, out, "--samples", n, "--seed", 3)
    assert r.returncode == 0, r.stderr
    assert f"wrote {name}" in r.stdout
    records = loader(out)
    assert len(records) == n
    for rec in records:
        assert rec.path.is_absolute() and rec.path.is_file()
        assert out.resolve() in rec.path.parents
        assert rec.captions or rec.label is not None


def test_data_is_deterministic(tmp_path):
    for d in ("a", "b"):
        assert mmlearn("data", "shapes", tmp_path / d, "--samples", 5, "--seed", 7).returncode == 0
    a = sorted(p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file())
    b = sorted(p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert a == b


@pytest.mark.parametrize("args,message", [
    (["data", "pictures", "x"], "invalid choice: 'pictures'"),
    (["data", "shapes", "{tmp}/y", "--samples", "0"], "--samples must be a positive"),
    (["data", "shapes", "{tmp}/afile"], "exists and is not an empty folder"),
    (["data", "shapes", "{tmp}/y", "--samples", "many"], "invalid int value: 'many'"),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path, args, message):
    (tmp_path / "afile").write_text("x")
    r = mmlearn(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_train_evaluate_predict_caption(tmp_path):
    run = tmp_path / "run"
    r = mmlearn("train", "--task", "caption", "--samples", 64, "--epochs", 1, "--out", run)
    assert r.returncode == 0, r.stderr
    for name in ("metrics.json", "config.json", "model.keras", "task.json", "training_curves.png", "sample_predictions.png"):
        assert (run / name).is_file(), name
    import json
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "exact_match", "token_accuracy", "train_seconds", "samples"):
        assert key in metrics
    assert metrics["samples"] == 64 and all(0 <= metrics[k] <= 1 for k in ("bleu4", "rouge_l", "exact_match"))
    assert json.loads((run / "config.json").read_text())["samples"] == 64
    assert "exact_match" in r.stdout  # the final table

    e = mmlearn("evaluate", run)
    assert e.returncode == 0, e.stderr and "bleu4" in e.stdout

    assert mmlearn("data", "shapes", tmp_path / "imgs", "--samples", 2).returncode == 0
    images = sorted((tmp_path / "imgs" / "Images").iterdir())
    p = mmlearn("predict", run, "--image", images[0], "--image", images[1])
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.strip().splitlines()) == 2

    wrong = mmlearn("predict", run, "--text", "a red circle")
    assert wrong.returncode == 2 and "takes images only" in wrong.stderr and "Traceback" not in wrong.stderr


@pytest.mark.parametrize("args,message", [
    (["train", "--task", "translate"], "invalid choice: 'translate'"),
    (["train", "--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (["train", "--data", "{tmp}/nodata", "--format", "flickr8k"], "data folder"),
    (["train", "--data", "{tmp}", "--format", "tiff"], "unknown format 'tiff'"),
    (["evaluate", "{tmp}"], "config.json is missing"),
    (["predict", "{tmp}/nothing", "--image", "x.png"], "does not exist"),
])
def test_bad_run_input_is_one_line_and_nonzero(tmp_path, args, message):
    r = mmlearn(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

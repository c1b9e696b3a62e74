"""`mmlearn train --task retrieval` and `--task search` as a user runs them: real subprocesses, real run folders."""
import json
import os
import subprocess

import pytest


def mmlearn(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MMLEARN_QUIET": "1"}
    return subprocess.run(["mmlearn", *map(str, args)], capture_output=True, text=True, env=env, timeout=600)


PREFIXES = {"retrieval": ("t2i_", "i2t_"), "search": ("t2a_", "a2t_")}
FIGURES = ("training_curves.png", "similarity.png", "top_k.png", "shared_space.png")
# small held-out sets for the runs on built-in data (the defaults hold out 1,000 items)
SMALL_SPLITS = {"retrieval": ["--set", "val_samples=64", "--set", "test_samples=64"],
                "search": ["--set", "val_samples=32", "--set", "val_speech=8", "--set", "test_samples=64",
                           "--set", "test_speech=16"]}


def check_metrics(run, task, samples):
    "metrics.json has every DESIGN.md key of the task, in range, with the chance levels beside them."
    metrics = json.loads((run / "metrics.json").read_text())
    for p in PREFIXES[task]:
        for k in ("r1", "r5", "r10"):
            assert 0 <= metrics[p + k] <= 1, (p + k, metrics[p + k])
            assert 0 < metrics[f"{p}{k}_chance"] <= 1
        assert metrics[p + "r1"] <= metrics[p + "r5"] <= metrics[p + "r10"]
        assert metrics[p + "median_rank"] >= 1
    assert metrics["samples"] == samples and metrics["train_seconds"] > 0
    return metrics


def one_line_error(r, message):
    "A user error: non-zero exit, the message on one line of stderr, no traceback."
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("mmlearn ")]
    assert len(errors) == 1 and message in errors[0], r.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    "A small default run of each task (64 samples, one epoch), and what `mmlearn train` printed."
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for task in PREFIXES:
        r = mmlearn("train", "--task", task, "--samples", 64, "--epochs", 1, *SMALL_SPLITS[task], "--out", root / task)
        assert r.returncode == 0, r.stderr
        out[task] = r.stdout
    return root, out


@pytest.mark.parametrize("task,query", [("retrieval", "a small red circle"), ("search", "a loud high beep")])
def test_train_writes_retrieval_metrics_and_predict_ranks_the_gallery(runs, task, query):
    run, stdout = runs[0] / task, runs[1][task]
    for name in ("metrics.json", "config.json", "model.keras", "task.json", "gallery.npz") + FIGURES:
        assert (run / name).is_file(), name
    check_metrics(run, task, 64)
    assert PREFIXES[task][0] + "r1" in stdout  # the final table

    p = mmlearn("predict", run, "--text", query, "--text", "qwerty")
    one_line_error(p, "query 'qwerty' has no word the model knows")  # a query of unknown words is refused
    p = mmlearn("predict", run, "--text", query)
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip().splitlines()[-1]
    assert line.startswith(repr(query) + " -> 1. ") and " 5. " in line and " 6. " not in line


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    "Built-in data written by `mmlearn data` in the standard layouts: shapes as Flickr8k, sounds as Clotho."
    root = tmp_path_factory.mktemp("data")
    for name, n in (("shapes", 150), ("sounds", 100)):
        r = mmlearn("data", name, root / name, "--samples", n, "--seed", 1)
        assert r.returncode == 0, r.stderr
    return root


@pytest.mark.parametrize("task,name,fmt,file_glob,option", [("retrieval", "shapes", "flickr8k", "Images/*.png", "--image"),
                                                            ("search", "sounds", "clotho", "development/*.wav", "--audio")])
def test_a_folder_written_by_mmlearn_data_trains_evaluates_and_predicts(tmp_path, folders, task, name, fmt, file_glob, option):
    run, data = tmp_path / "run", folders / name
    r = mmlearn("train", "--task", task, "--data", data, "--format", fmt, "--samples", 80, "--epochs", 1, "--out", run)
    assert r.returncode == 0, r.stderr
    for f in ("model.keras", "gallery.npz") + FIGURES: assert (run / f).is_file(), f
    metrics = check_metrics(run, task, 80)  # 80 of the 135 (shapes) / 90 (sounds) items left after the last tenth is held out
    assert json.loads((run / "task.json").read_text())["data"] == str(data.resolve())

    e = mmlearn("evaluate", run)  # re-reads the folder's held-out split: the same numbers
    assert e.returncode == 0, e.stderr
    row = next(line for line in e.stdout.splitlines() if line.startswith(PREFIXES[task][0] + "r1 "))
    assert abs(float(row.split()[1]) - metrics[PREFIXES[task][0] + "r1"]) < 1e-4

    item = sorted(data.glob(file_glob))[-1]  # a held-out file: it ranks the gallery's captions
    p = mmlearn("predict", run, option, item)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1].startswith(item.name + " -> 1. ")


@pytest.mark.parametrize("task,fmt,data,message", [
    ("retrieval", "clotho", "sounds", "the retrieval task reads images with captions: --format flickr8k or coco, got --format 'clotho'"),
    ("search", "flickr8k", "shapes", "the search task reads audio clips with captions: --format clotho or audiocaps, got --format 'flickr8k'"),
])
def test_a_format_of_the_wrong_modality_is_one_line(tmp_path, folders, task, fmt, data, message):
    one_line_error(mmlearn("train", "--task", task, "--data", folders / data, "--format", fmt, "--out", tmp_path / "run"), message)


@pytest.mark.parametrize("task,option,file_glob,message", [
    ("retrieval", "--audio", "development/*.wav", "the retrieval task takes --image PATH or --text TEXT, not --audio"),
    ("search", "--image", "Images/*.png", "the search task takes --audio PATH.wav or --text TEXT, not --image"),
    ("retrieval", "--image", "development/*.wav", "not a readable image"),   # an audio file where an image belongs
    ("search", "--audio", "Images/*.png", "expected a RIFF/WAVE header"),     # an image where audio belongs
])
def test_an_input_of_the_wrong_modality_is_one_line(folders, runs, task, option, file_glob, message):
    item = sorted(folders.glob(f"*/{file_glob}"))[0]
    r = mmlearn("predict", runs[0] / task, option, item)
    one_line_error(r, message)
    assert option == "--audio" and task == "retrieval" or option == "--image" and task == "search" or item.name in r.stderr  # names the file

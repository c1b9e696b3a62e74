"""`mmlearn train --task summarize` as a user runs it: a real subprocess, a real run folder, then evaluate and predict."""
import json
import os
import subprocess

import numpy as np
from PIL import Image

from mmlearn.data.formats import write_image_captions
from mmlearn.data.synthetic import shapes_scenes

DESCRIPTION = ("It was a quiet afternoon. The glass square comes second. Someone placed the wooden circle first. "
               "This picture was taken in the kitchen. The glass square is second in line.")


def mmlearn(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MMLEARN_QUIET": "1"}
    return subprocess.run(["mmlearn", *map(str, args)], capture_output=True, text=True, env=env, timeout=600)


def test_train_evaluate_predict_summarize(tmp_path):
    run = tmp_path / "run"
    r = mmlearn("train", "--task", "summarize", "--samples", 16, "--epochs", 1, "--batch-size", 64, "--out", run)
    assert r.returncode == 0, r.stderr
    used = json.loads((run / "config.json").read_text())["settings"]
    assert used["batch_size"] == 64 and used["image_size"] == 48   # the user's 64 (the task's default is 16), the task's own image size
    for name in ("metrics.json", "config.json", "task.json", "model.keras", "text/model.keras", "image/model.keras",
                 "training_curves.png", "sample_predictions.png", "ablation.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    keys = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "exact_match", "token_accuracy")
    for key in keys + ("train_seconds", "samples"): assert key in metrics, key
    for key in keys:
        for suffix in ("", "_text", "_image"): assert 0 <= metrics[key + suffix] <= 1, (key + suffix, metrics[key + suffix])
    assert metrics["samples"] == 16 and metrics["train_seconds"] > 0
    assert "rouge_l_text" in r.stdout  # the final table

    e = mmlearn("evaluate", run)
    assert e.returncode == 0, e.stderr
    assert "rouge_l_image" in e.stdout

    image = tmp_path / "scene.png"
    Image.fromarray(shapes_scenes(1, seed=5, image_size=48, min_objects=2).inputs[0]).save(image)
    p = mmlearn("predict", run, "--image", image, "--text", DESCRIPTION, "--image", image, "--text", DESCRIPTION)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0] == lines[1] and lines[0].strip()   # one summary per scene, the same scene twice

    bad = mmlearn("predict", run, "--text", DESCRIPTION)   # the notebook tests the other refusals (audio, counts, empty text)
    assert bad.returncode == 2 and "needs both modalities" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_summarize_refuses_a_dataset_folder(tmp_path):
    scenes = shapes_scenes(2, seed=1)
    data = write_image_captions(tmp_path / "flickr", scenes.inputs, scenes.captions)   # a valid folder: the task itself refuses it
    r = mmlearn("train", "--task", "summarize", "--data", data, "--format", "flickr8k", "--out", tmp_path / "run")
    assert r.returncode == 2 and "built-in data only" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1

"""The README's contributing section shows a whole toy task (`count`) and the registry diff that adds it. These tests
run that code as printed: a contributor who copies it gets a task that trains, evaluates and predicts through the
one way every task runs, and the diff still applies to the registry notebook."""

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmlearn.data.synthetic import shapes_scenes
from mmlearn.train import RunConfig

ROOT = Path(__file__).resolve().parents[1]
SECTION = (ROOT / "README.md").read_text().split("**Adding a task.**")[1]
TINY = ["--set", "samples=64", "--set", "epochs=1", "--set", "test_samples=32"]


def readme_block(language: str) -> str:
    "The first fenced block of `language` in the contributing section."
    return re.search(rf"```{language}\n(.*?)```", SECTION, re.S).group(1)


@pytest.fixture
def count_module(tmp_path) -> Path:
    "The README's toy module, written as a contributor would save it: tmp_path/count.py."
    (tmp_path / "count.py").write_text(readme_block("python"))
    return tmp_path


def mmlearn_with_count(folder: Path, *args) -> subprocess.CompletedProcess:
    """`mmlearn ARGS` in a fresh process (a run changes TensorFlow's global settings) with the toy task in the
    registry, as its diff would put it."""
    code = (
        "import sys; import count; from mmlearn import tasks; tasks.TASKS['count'] = count.TASK; "
        "from mmlearn.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )


def test_toy_task_reads_as_the_project_asks():
    code = readme_block("python")
    assert max(len(line) for line in code.splitlines()) <= 110
    assert ";" not in code


def test_toy_task_trains_evaluates_and_predicts(count_module):
    run_dir = count_module / "runs" / "count"
    trained = mmlearn_with_count(count_module, "train", "--task", "count", "--out", run_dir, *TINY)
    assert trained.returncode == 0, trained.stderr
    for name in ("config.json", "metrics.json", "report.md", "model.keras", "task.json"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["samples"] == 64
    settings = json.loads((run_dir / "config.json").read_text())["settings"]
    assert (settings["samples"], settings["epochs"], settings["image_size"]) == (64, 1, 32)
    evaluated = mmlearn_with_count(count_module, "evaluate", run_dir)
    assert evaluated.returncode == 0 and f"{metrics['accuracy']:.4f}" in evaluated.stdout, evaluated.stdout
    image = count_module / "scene.png"
    Image.fromarray(shapes_scenes(1, seed=3, image_size=32).inputs[0]).save(image)
    predicted = mmlearn_with_count(count_module, "predict", run_dir, "--image", image)
    assert predicted.returncode == 0, predicted.stderr
    assert re.search(r"\b[123] shapes\b", predicted.stdout), predicted.stdout


def test_toy_task_settings_are_declared(count_module):
    sys.path.insert(0, str(count_module))
    try:
        count = importlib.import_module("count")
    finally:
        sys.path.remove(str(count_module))
        sys.modules.pop("count", None)
    assert count.TASK.settings(RunConfig(task="count", extra={"image_size": 48}))["image_size"] == 48
    refused = mmlearn_with_count(count_module, "train", "--task", "count", "--out", "bad", "--set", "width=3")
    assert refused.returncode == 2 and "width" in refused.stderr, refused.stderr


def test_registry_diff_applies_to_the_registry_notebook():
    cells = json.loads((ROOT / "nbs" / "08_tasks.ipynb").read_text())["cells"]
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    diff = readme_block("diff").splitlines()
    removed_or_kept = [line[1:] for line in diff if line[:1] in ("-", " ") and line.strip() != "..."]
    for line in removed_or_kept:
        assert line in source.splitlines(), f"the README's diff line {line!r} is not in nbs/08_tasks.ipynb"
    added = [line[1:].strip() for line in diff if line.startswith("+")]
    assert any("count" in line for line in added)
    assert np.all([line not in source for line in added])

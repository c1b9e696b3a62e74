"""The README's contributing section shows a whole toy task (`count`) and the registry diff that adds it. These tests
run that code as printed: a contributor who copies it gets a task that trains, evaluates and predicts through the
one way every task runs, and the diff still applies to the registry notebook."""

import json
import re
import types
from pathlib import Path

import numpy as np
import pytest

from mmlearn import tasks
from mmlearn.cli import main
from mmlearn.data.synthetic import shapes_scenes
from mmlearn.train import RunConfig

ROOT = Path(__file__).resolve().parents[1]
SECTION = (ROOT / "README.md").read_text().split("**Adding a task.**")[1]
TINY = ["--set", "samples=64", "--set", "epochs=1", "--set", "test_samples=32"]


def readme_block(language: str) -> str:
    "The first fenced block of `language` in the contributing section."
    return re.search(rf"```{language}\n(.*?)```", SECTION, re.S).group(1)


@pytest.fixture
def count_task(monkeypatch):
    "The README's toy module, built from its text and registered as the task `count` for one test."
    module = types.ModuleType("count")
    exec(compile(readme_block("python"), "README.md (count)", "exec"), module.__dict__)
    monkeypatch.setitem(tasks.TASKS, "count", module.TASK)
    return module


def test_toy_task_reads_as_the_project_asks():
    code = readme_block("python")
    assert max(len(line) for line in code.splitlines()) <= 110
    assert ";" not in code


def test_toy_task_trains_evaluates_and_predicts(count_task, tmp_path, capsys):
    run_dir = tmp_path / "runs" / "count"
    assert main(["train", "--task", "count", "--out", str(run_dir), *TINY]) == 0
    for name in ("config.json", "metrics.json", "report.md", "model.keras", "task.json"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["samples"] == 64
    settings = json.loads((run_dir / "config.json").read_text())["settings"]
    assert (settings["samples"], settings["epochs"], settings["image_size"]) == (64, 1, 32)
    again = tasks.evaluate_run(run_dir)
    assert again["accuracy"] == pytest.approx(metrics["accuracy"])
    image = tmp_path / "scene.png"
    from PIL import Image

    Image.fromarray(shapes_scenes(1, seed=3, image_size=32).inputs[0]).save(image)
    answers = tasks.predict_run(run_dir, image=[str(image)])
    assert len(answers) == 1 and re.fullmatch(r"[123] shapes", answers[0])


def test_toy_task_settings_are_declared(count_task, tmp_path, capsys):
    config = RunConfig(task="count", extra={"image_size": 48})
    assert count_task.TASK.settings(config)["image_size"] == 48
    assert main(["train", "--task", "count", "--out", str(tmp_path / "bad"), "--set", "width=3"]) == 2
    assert "width" in capsys.readouterr().err


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

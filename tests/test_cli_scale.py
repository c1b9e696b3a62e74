"""`mmlearn scale` as a user runs it: a tiny grid of language models, the fitted scaling law and the held-out test
on stdout, the same numbers in the JSON file, and a bad budget refused in one line."""
import json
import os
import subprocess

TIMEOUT = 1800  # about a minute on a quiet machine; over ten when other jobs load the two cores


def mmlearn(*args):
    env = {**os.environ, "MMLEARN_QUIET": "1"}
    return subprocess.run(["mmlearn", *map(str, args)], capture_output=True, text=True, env=env, timeout=TIMEOUT)


def test_scale_trains_a_tiny_grid_and_reports_the_fit(tmp_path):
    out = tmp_path / "fit.json"
    r = mmlearn("scale", "--minutes", "0.001", "--rounds", "5", "--json", out, "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    for key in ("E", "A", "B", "alpha", "beta", "compute-optimal", "held-out test"):
        assert key in r.stdout, r.stdout
    summary = json.loads(out.read_text())
    runs = summary["runs"]
    sizes = sorted({run["params"] for run in runs})
    budgets = sorted({run["tokens"] for run in runs})
    assert len(sizes) >= 5 and len(budgets) >= 3 and len(runs) == len(sizes) * len(budgets)
    assert all(run["loss"] > 0 and run["flops"] == 6 * run["params"] * run["tokens"] for run in runs)
    held = summary["heldout"]
    assert held["params"] == sizes[-1] and held["tokens"] == budgets
    assert f"{held['max_relative_error']:.1%}" in r.stdout  # the printed error is the one in the file
    assert abs(summary["frontier"]["a"] + summary["frontier"]["b"] - 1) < 1e-9
    assert json.loads((tmp_path / "run" / "scaling.json").read_text()) == summary
    assert (tmp_path / "run" / "scaling.png").stat().st_size > 1000


def test_scale_refuses_a_bad_budget_in_one_line():
    r = mmlearn("scale", "--minutes", "-1")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "--minutes" in r.stderr, r.stderr

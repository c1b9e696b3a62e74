"""Every notebook in nbs/ is one test case, run by nbdev's own runner with the project's test flags."""
import os
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb  # renamed so pytest does not collect it

NBS = Path(__file__).resolve().parents[1] / "nbs"
NOTEBOOKS = sorted(p for p in NBS.rglob("*.ipynb")
                   if not p.name.startswith(("_", ".")) and ".ipynb_checkpoints" not in p.parts)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3, f"expected the pipeline notebooks under {NBS}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb, monkeypatch):
    monkeypatch.setenv("IN_TEST", "1")
    monkeypatch.setenv("MMLEARN_QUIET", "1")
    monkeypatch.chdir(nb.parent)
    skip = get_config().tst_flags.split()
    ok, secs = run_nb(nb, skip_flags=skip, force_flags=[], do_print=False, showerr=True, basepath=NBS.parent)
    assert ok, f"{nb.name} failed (see the cell error above)"

"""Every notebook in nbs/ is one test case, run by nbdev's own runner with the project's test flags."""
import os
from pathlib import Path

import pytest
from keras.src.saving import object_registration
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb  # renamed so pytest does not collect it

NBS = Path(__file__).resolve().parents[1] / "nbs"
NOTEBOOKS = sorted(p for p in NBS.rglob("*.ipynb")
                   if not p.name.startswith(("_", ".")) and ".ipynb_checkpoints" not in p.parts)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3, f"expected the pipeline notebooks under {NBS}"


@pytest.fixture
def keras_registry():
    """nbdev runs a notebook in this process, and a notebook's `class` cells re-register their Keras classes under
    the library's names: `keras.saving.load_model` in a later test on the same worker would then build the notebook's
    class, not the library's. Restore the global registry after each notebook."""
    objects = dict(object_registration.GLOBAL_CUSTOM_OBJECTS)
    names = dict(object_registration.GLOBAL_CUSTOM_NAMES)
    yield
    object_registration.GLOBAL_CUSTOM_OBJECTS.clear()
    object_registration.GLOBAL_CUSTOM_OBJECTS.update(objects)
    object_registration.GLOBAL_CUSTOM_NAMES.clear()
    object_registration.GLOBAL_CUSTOM_NAMES.update(names)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb, monkeypatch, keras_registry):
    monkeypatch.setenv("IN_TEST", "1")
    monkeypatch.setenv("MMLEARN_QUIET", "1")
    monkeypatch.chdir(nb.parent)
    skip = get_config().tst_flags.split()
    ok, secs = run_nb(nb, skip_flags=skip, force_flags=[], do_print=False, showerr=True, basepath=NBS.parent)
    assert ok, f"{nb.name} failed (see the cell error above)"

"""Every notebook in nbs/ is one test case, run by nbdev's own runner with the project's test flags."""
import os
import sys
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


def _library_class(registered: str):
    "The class mmlearn's own modules register under `registered` ('mmlearn>Name'), or None."
    name = registered.split(">")[-1]
    for module_name, module in list(sys.modules.items()):
        obj = getattr(module, name, None) if module_name.startswith("mmlearn.") else None
        if obj is not None and getattr(obj, "__module__", "").startswith("mmlearn."):
            return obj
    return None


@pytest.fixture
def keras_registry():
    """nbdev runs a notebook in this process, and a notebook's `class` cells re-register their Keras classes under
    the library's names: `keras.saving.load_model` in a later test on the same worker would then build the notebook's
    class, not the library's. After each notebook, every registered name points at the library's class again
    (names a module registered for the first time during the notebook stay registered)."""
    yield
    for registered, obj in list(object_registration.GLOBAL_CUSTOM_OBJECTS.items()):
        library = _library_class(registered) if registered.startswith("mmlearn>") else None
        if library is not None and library is not obj:
            object_registration.GLOBAL_CUSTOM_OBJECTS[registered] = library
            object_registration.GLOBAL_CUSTOM_NAMES[library] = registered


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb, monkeypatch, keras_registry):
    monkeypatch.setenv("IN_TEST", "1")
    monkeypatch.setenv("MMLEARN_QUIET", "1")
    monkeypatch.chdir(nb.parent)
    skip = get_config().tst_flags.split()
    ok, secs = run_nb(nb, skip_flags=skip, force_flags=[], do_print=False, showerr=True, basepath=NBS.parent)
    assert ok, f"{nb.name} failed (see the cell error above)"

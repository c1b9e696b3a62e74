"""The installed library as a user imports it: the stable API of DESIGN.md, and the real FSDD data."""
import importlib
import re
from pathlib import Path

import numpy as np
import pytest

import mmlearn
from mmlearn.core import fsdd_root


def test_version_and_distribution_name():
    from importlib.metadata import distribution
    assert mmlearn.__version__ == distribution("mmlearn-tf").version


@pytest.mark.parametrize("module,names", [
    ("mmlearn.evaluate", ["corpus_bleu", "rouge_l", "f1_score", "accuracy", "recall_at_k", "vqa_accuracy"]),
    ("mmlearn.preprocess.audio", ["stft", "log_mel_spectrogram", "mfcc"]),
    ("mmlearn.data.formats", ["load_flickr8k", "load_coco_captions", "load_clotho",
                              "load_audiocaps", "load_mosi", "load_fsdd"]),
])
def test_stable_api_imports(module, names):
    mod = importlib.import_module(module)
    for name in names:
        assert callable(getattr(mod, name)), f"{module}.{name} is not callable"


def test_generators_are_seeded_and_deterministic():
    from mmlearn.data.synthetic import shapes_scenes, sound_events
    a, b, c = shapes_scenes(8, seed=1), shapes_scenes(8, seed=1), shapes_scenes(8, seed=2)
    assert np.array_equal(a.inputs, b.inputs) and a.captions == b.captions
    assert not np.array_equal(a.inputs, c.inputs)
    s1, s2 = sound_events(4, seed=5), sound_events(4, seed=5)
    assert np.array_equal(s1.inputs, s2.inputs) and s1.captions == s2.captions


def test_fsdd_loader_on_the_real_recordings():
    root = fsdd_root()
    if root is None:
        pytest.skip("MMLEARN_FSDD is not set to the Free Spoken Digit Dataset folder")
    from mmlearn.data.formats import load_fsdd, read_wav
    records = load_fsdd(root)
    assert len(records) == 3000
    assert sorted({r.label for r in records}) == list(range(10))
    test = [r for r in records if r.meta["split"] == "test"]
    assert len(test) == 300 and all(r.meta["index"] <= 4 for r in test)
    x, sr = read_wav(records[0].path)
    assert sr == 8000 and x.ndim == 1 and 0 < np.abs(x).max() <= 1


def test_the_library_has_no_test_mode(monkeypatch):
    "Every task's settings are its declared defaults, whether IN_TEST and PYTEST_CURRENT_TEST are set or not."
    from mmlearn.tasks import TASKS
    from mmlearn.train import RunConfig

    def settings() -> dict:
        return {name: task.settings(RunConfig(task=name)) for name, task in TASKS.items()}

    monkeypatch.setenv("IN_TEST", "1")
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/test_library.py::test_the_library_has_no_test_mode (call)")
    under_test = settings()
    monkeypatch.delenv("IN_TEST")
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    assert settings() == under_test == {name: task.defaults for name, task in TASKS.items()}


def test_no_module_reads_the_test_environment():
    "A user's own pytest run trains what it asked for: no module of the library looks for the test runner."
    root = Path(mmlearn.__file__).parent
    readers = [str(p.relative_to(root)) for p in sorted(root.rglob("*.py"))
               if re.search(r"IN_TEST|PYTEST_CURRENT_TEST|in_test\(", p.read_text())]
    assert readers == []

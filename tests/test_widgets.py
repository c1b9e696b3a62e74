"""The explorers of the installed `mmlearn.widgets`, driven from code as JupyterLab would drive them: set a control's value,
read what the views show. No browser needed (tests/test_jupyterlab.py does it through one)."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from mmlearn.core import fsdd_root
from mmlearn.data.formats import read_wav, write_wav
from mmlearn.data.synthetic import SENTIMENT_CLASSES
from mmlearn.preprocess.text import Vocabulary
from mmlearn.apps import sentiment
from mmlearn import widgets as mw

FSDD = Path(os.environ.get("MMLEARN_FSDD") or Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd")  # the real recordings
N = 6  # items per generated dataset: small and quick


def _state(box) -> tuple:
    "Everything the explorer shows now."
    return tuple(getattr(v, "value", None) for v in box.views.values())


@pytest.mark.parametrize("name", ["shapes", "sounds", "speech", "sentiment", "digits"])
def test_every_builtin_dataset_in_the_dataset_explorer(name):
    "Each dataset's samples are shown: a caption in the HTML, a PNG picture, and for audio a WAV in the player; every index redraws."
    box = mw.dataset_explorer([name], n=N)
    seen = set()
    for i in range(3):
        box.controls["index"].value = i
        s = mw.dataset_sample(name, i, n=N)
        assert box.views["status"].value == ""
        assert box.views["caption"].value == mw.sample_html(s) and s.caption in box.views["caption"].value
        assert box.views["image"].value[:8] == b"\x89PNG\r\n\x1a\n"
        if s.modality == "audio":
            assert box.views["audio"].value == mw.wav_bytes(s.data, s.sample_rate) and box.views["audio"].layout.display is None
        else:
            assert box.views["audio"].layout.display == "none"
        seen.add(box.views["image"].value)
    assert len(seen) == 3, "three samples, three different pictures"


def test_dataset_explorer_switches_datasets_and_draws_at_random():
    "Switching the dataset re-ranges the slider (keeping the index where it can); the random button draws from a seeded generator."
    box = mw.dataset_explorer(["digits", "shapes"], n=None, seed=3, index=1500)
    c = box.controls
    assert c["index"].max == 1796 and c["index"].value == 1500
    before = _state(box)
    c["dataset"].value = "shapes"
    assert c["index"].max == mw.DEFAULT_SIZES["shapes"] - 1 and c["index"].value == c["index"].max
    assert _state(box) != before and mw.dataset_sample("shapes", c["index"].max, seed=3).caption in box.views["caption"].value
    draws = np.random.default_rng(3)
    for _ in range(4):
        c["random"].click()
        assert c["index"].value == int(draws.integers(c["index"].max + 1))
        assert mw.dataset_sample("shapes", c["index"].value, seed=3).caption in box.views["caption"].value


def test_fsdd_in_the_explorers(monkeypatch):
    "With MMLEARN_FSDD set, FSDD is offered, and its samples are the real 8 kHz recordings."
    if not (FSDD / "recordings").is_dir(): pytest.skip(f"no FSDD recordings at {FSDD}")
    monkeypatch.setenv("MMLEARN_FSDD", str(FSDD))
    assert "fsdd" in mw.available_datasets()
    box = mw.dataset_explorer(["fsdd"], index=4)
    s = mw.dataset_sample("fsdd", 4)
    assert s.sample_rate == 8000 and s.label == s.caption and np.array_equal(s.data, read_wav(fsdd_root() / "recordings" / s.meta["file"])[0])
    assert box.views["audio"].value == mw.wav_bytes(s.data, 8000) and s.meta["file"] in box.views["caption"].value
    px = mw.preprocessing_explorer(["fsdd"], index=4)
    assert px.views["status"].value == "" and f"waveform ({len(s.data)},)" in px.views["shapes"].value
    monkeypatch.delenv("MMLEARN_FSDD")
    assert "fsdd" not in mw.available_datasets()
    with pytest.raises(ValueError, match="set MMLEARN_FSDD"): mw.dataset_sample("fsdd", 0)


AUDIO_CONTROLS = {"sequence_length": 9, "ngrams": 2, "n_fft": 1024, "hop_length": 320, "n_mels": 24, "n_mfcc": 8}
IMAGE_CONTROLS = {"sequence_length": 7, "ngrams": 3, "size": 48, "patch_size": 16, "seed": 5}


def test_preprocessing_explorer_redraws_for_every_control():
    "Each control that applies to the sample changes what is shown; the shapes listed follow the settings."
    box = mw.preprocessing_explorer(["sentiment", "shapes"], n=N, index=2)
    c, v = box.controls, box.views
    for name, value in AUDIO_CONTROLS.items():
        before = _state(box); c[name].value = value
        assert v["status"].value == "" and _state(box) != before, f"{name}={value} changed nothing"
    s = mw.dataset_sample("sentiment", 2, n=N)
    frames = 1 + len(s.data) // 320
    assert f"frames ({frames}, 1024)" in v["shapes"].value and f"log-mel ({frames}, 24)" in v["shapes"].value
    assert f"MFCC ({frames}, 8)" in v["shapes"].value and "padded (9)" in v["text"].value
    c["n_mels"].value = 8  # fewer bands than MFCCs asked for: the MFCC slider follows
    assert c["n_mfcc"].max == 8 and f"MFCC ({frames}, 8)" in v["shapes"].value
    c["dataset"].value = "shapes"
    for name, value in IMAGE_CONTROLS.items():
        before = _state(box); c[name].value = value
        assert v["status"].value == "" and _state(box) != before, f"{name}={value} changed nothing"
    assert "resized (48, 48, 3)" in v["shapes"].value and "patches (9, 768)" in v["shapes"].value
    assert "padded (7)" in v["text"].value


def test_preprocessing_stages_match_the_library():
    "The stages are the library's functions applied in order (a spot check; the notebook checks each against librosa and Keras)."
    from mmlearn.preprocess.audio import log_mel_spectrogram, mfcc
    from mmlearn.preprocess.image import channel_stats, resize_images
    clip, scene = mw.dataset_sample("sentiment", 0, n=N), mw.dataset_sample("shapes", 0, n=N)
    vocab = Vocabulary.build([clip.caption, scene.caption])
    a = mw.preprocessing_stages(clip, vocab, n_fft=256, hop_length=80, n_mels=32, n_mfcc=12)
    np.testing.assert_allclose(a["audio"]["log_mel"], log_mel_spectrogram(clip.data, 16000, 256, 80, n_mels=32).numpy(), atol=1e-4)
    np.testing.assert_allclose(a["audio"]["mfcc"], mfcc(clip.data, 16000, 12, 32, n_fft=256, hop_length=80).numpy(), atol=1e-4)
    assert a["text"]["ids"] == vocab.encode(clip.caption, add_markers=True) and a["text"]["decoded"] == clip.caption
    i = mw.preprocessing_stages(scene, vocab, channel_stats(scene.data[None]), size=40, patch_size=10)
    np.testing.assert_allclose(i["image"]["resized"], resize_images(scene.data, 40).numpy(), atol=1e-6)
    assert np.array_equal(mw.patch_mosaic(i["image"]["patches"], i["image"]["grid"], gap=0), i["image"]["resized"])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    "A sentiment run folder in the layout `mmlearn train --task sentiment` writes (task.json + three .keras models), untrained."
    run = tmp_path_factory.mktemp("sentiment")
    vocab = Vocabulary.build(["what a lovely film", "the show was on friday", "i found the game boring"], specials=())
    models = {"text": "text/model.keras", "audio": "audio/model.keras", "fused": "model.keras"}
    for name, mods in sentiment.MODALITIES.items():
        (run / models[name]).parent.mkdir(parents=True, exist_ok=True)
        sentiment.sentiment_model(mods, vocab, clip_samples=48000, sequence_length=8).save(run / models[name])
    (run / "task.json").write_text(json.dumps(dict(classes=SENTIMENT_CLASSES, sample_rate=16000, clip_samples=48000, sequence_length=8,
                                                   samples=3, seed=0, models=models, prosody_band=sentiment.PROSODY_BAND)))
    return run


def test_sentiment_explorer_answers_for_the_clip_and_the_transcript(run_dir, tmp_path):
    "A clip's answers are the three models' probabilities; rewriting the transcript moves the text model, not the audio model."
    run = mw.SentimentRun.load(run_dir)
    box = mw.sentiment_explorer(run, n=3, index=0)
    c, v = box.controls, box.views
    clips = sentiment.cached_sentiment_clips(3, 10_000, 3.0)
    assert c["transcript"].value == clips.captions[0][0] and v["status"].value == ""
    assert v["audio"].value == mw.wav_bytes(clips.inputs[0], 16000)
    truth = SENTIMENT_CLASSES[clips.labels[0]]
    assert v["answers"].value == mw.sentiment_html(run.probabilities(clips.captions[0][0], clips.inputs[0]), true=truth)
    assert f"true label <b>{truth}</b>" in v["about"].value
    p = run.probabilities(clips.captions[0][0], clips.inputs[0])
    wav = write_wav(tmp_path / "clip.wav", clips.inputs[0], 16000)
    assert sentiment.predict(run_dir, audio=[wav], text=[clips.captions[0][0]]) == [SENTIMENT_CLASSES[int(np.argmax(p["fused"]))]]
    c["transcript"].value = "what a lovely film"
    q = run.probabilities("what a lovely film", clips.inputs[0])
    assert v["answers"].value == mw.sentiment_html(q)  # edited: no true label to colour against
    np.testing.assert_allclose(q["audio"], p["audio"], atol=1e-6)
    assert np.abs(q["text"] - p["text"]).max() > 0
    before = _state(box)
    c["index"].value = 2
    assert _state(box) != before and c["transcript"].value == clips.captions[2][0]
    c["transcript"].value = ""
    assert "non-empty transcript" in v["status"].value
    with pytest.raises(FileNotFoundError, match="task.json is missing"): mw.sentiment_explorer(tmp_path)


def test_bad_input_is_named():
    "Bad datasets, indices, images and audio stop with a message that names the value and what was expected."
    with pytest.raises(ValueError, match="dataset must be one of"): mw.dataset_explorer(["mnist"])
    with pytest.raises(ValueError, match=r"index must be an int in 0\.\.5"): mw.dataset_sample("shapes", 6, n=N)
    with pytest.raises(ValueError, match="datasets is empty"): mw.preprocessing_explorer([])
    with pytest.raises(ValueError, match="image dataset"): mw.dataset_channel_stats("speech")
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\)"): mw.png_bytes(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="non-empty finite"): mw.wav_bytes(np.array([0.0, np.nan]), 16000)

"""mmlearn.apps.audio_caption as the command line calls it: train on a Clotho folder, reload and evaluate, caption WAV files, refuse bad input."""
import json

import numpy as np
import pytest

from mmlearn.apps import audio_caption
from mmlearn.core import DatasetError
from mmlearn.data.formats import write_clotho, write_wav
from mmlearn.data.synthetic import sound_events
from mmlearn.tasks import predict_run, write_config
from mmlearn.train import RunConfig

KEYS = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "exact_match", "token_accuracy")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    "One small training run on a Clotho folder (48 clips, no evaluation split: the last tenth is held out), shared by the tests."
    root = tmp_path_factory.mktemp("audio_caption")
    clips = sound_events(48, seed=1)
    folder = write_clotho(root / "clotho", clips.inputs, clips.sample_rate, clips.captions)
    config = RunConfig(task="caption", data=str(folder), format="clotho", epochs=1, batch_size=16)
    metrics = audio_caption.train(config, root / "run")
    return root / "run", config, metrics


def test_train_returns_caption_metrics_and_fills_the_run_folder(run):
    run_dir, _, metrics = run
    for k in KEYS: assert 0 <= metrics[k] <= 1, (k, metrics[k])
    for k in ("baseline_bleu4", "baseline_exact_match"): assert 0 <= metrics[k] <= 1, (k, metrics[k])
    assert metrics["samples"] == 44 and metrics["train_seconds"] > 0
    for name in ("model.keras", "task.json", "baselines.json", "training_curves.png", "sample_predictions.png", "attention.png"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "metrics.json").exists()   # the CLI writes it, not train
    task = json.loads((run_dir / "task.json").read_text())
    assert task["app"] == "audio_caption" and task["sample_rate"] == 16000 and task["clip_samples"] == 24000
    baselines = json.loads((run_dir / "baselines.json").read_text())
    assert set(baselines) == {"most_frequent_caption", "nearest_neighbour_mfcc"}
    assert baselines["nearest_neighbour_mfcc"]["bleu4"] == metrics["baseline_bleu4"]


def test_evaluate_reloads_the_model_and_agrees_with_train(run):
    run_dir, config, metrics = run
    again = audio_caption.evaluate(run_dir, config)
    assert set(again) == set(KEYS)
    for k in KEYS: assert again[k] == pytest.approx(metrics[k], abs=1e-3), k


def test_predict_captions_wav_files_at_any_sample_rate(run, tmp_path):
    run_dir = run[0]
    clips = sound_events(2, seed=9, sample_rate=8000)   # resampled to the model's 16 kHz on reading
    files = [write_wav(tmp_path / f"clip{i}.wav", x, 8000) for i, x in enumerate(clips.inputs)]
    captions = audio_caption.predict(run_dir, audio=[str(f) for f in files])
    assert len(captions) == 2 and all(isinstance(c, str) for c in captions)
    known = set(json.loads((run_dir / "task.json").read_text())["tokens"])
    words = [c.split(" ... [no end token")[0].split() for c in captions]   # a briefly trained model may be cut at the length limit
    assert all(set(w) <= known for w in words), captions
    assert audio_caption.predict(run_dir, audio=files[0]) == captions[:1]   # one path alone works too


def test_predict_refuses_images_text_and_nothing(run):
    "The registry checks predict's inputs against the task's declared `inputs` (config.json names the task)."
    run_dir, config, _ = run
    write_config(run_dir, config, {})
    with pytest.raises(ValueError, match="the audio_caption task takes --audio PATH.wav, not --text"): predict_run(run_dir, text=["a loud high beep"])
    with pytest.raises(ValueError, match="not --image"): predict_run(run_dir, image=["scene.png"])
    with pytest.raises(ValueError, match="give at least one input"): predict_run(run_dir)


def test_bad_folders_and_formats_are_named(tmp_path):
    with pytest.raises(ValueError, match="clotho or audiocaps"):
        audio_caption.audio_caption_data(RunConfig(task="caption", data=str(tmp_path), format="flickr8k"))
    with pytest.raises(DatasetError, match="clotho_captions_development.csv"):
        audio_caption.audio_caption_data(RunConfig(task="caption", data=str(tmp_path), format="clotho"))
    one = sound_events(1, seed=0)
    write_clotho(tmp_path / "one", one.inputs, 16000, one.captions)
    with pytest.raises(DatasetError, match="at least 2"):
        audio_caption.audio_caption_data(RunConfig(task="caption", data=str(tmp_path / "one"), format="clotho"))

"""The assistant's encoders as its defaults train them: stage 0 hears the sound captions and the spoken digits
(`encoder_digits`), then stages 2 and 3 leave both encoders exactly as stage 0 left them (`freeze_image_encoder`,
`freeze_audio_encoder`)."""
import json
import os
import subprocess

import numpy as np

TIMEOUT = 900


def train(out, *flags):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_CONFIG")}
    env["MMLEARN_QUIET"] = "1"
    cmd = ["mmlearn", "train", "--task", "assistant", "--out", str(out), *flags]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr


def weights(run, part):
    "The weights of one part of a saved run's model (image_encoder, audio_encoder, lm), as arrays."
    import keras

    from mmlearn.llm import multimodal  # noqa: F401  (registers MultimodalLM and its layers for loading)

    model = keras.saving.load_model(run / "model.keras", safe_mode=True, compile=False)
    return [np.asarray(w) for w in getattr(model, part).weights]


def test_frozen_encoders_keep_their_stage_0_weights(tmp_path, tiny_assistant_flags):
    from mmlearn.core import fsdd_root

    frozen = [*tiny_assistant_flags, "--set", "encoder_epochs=1", "--set", "digits=20"]
    train(tmp_path / "one", *frozen)
    train(tmp_path / "two", *frozen, "--set", "epochs=2")  # the same run with one more pass of stage 3
    settings = json.loads((tmp_path / "one" / "config.json").read_text())["settings"]
    assert (settings["freeze_image_encoder"], settings["freeze_audio_encoder"], settings["encoder_digits"]) == (1, 1, 1)
    notes = json.loads((tmp_path / "one" / "assistant.json").read_text())["notes"]
    if fsdd_root() is None:
        assert "spoken digits left out: MMLEARN_FSDD does not name an FSDD folder" in notes, notes
    else:  # the training split's digits (of the 20 drawn) are stage 0's too
        assert any(n.startswith("stage 0 also paired ") and n.endswith(" spoken digits with their words") for n in notes), notes
    for part in ("image_encoder", "audio_encoder"):
        one, two = weights(tmp_path / "one", part), weights(tmp_path / "two", part)
        assert len(one) == len(two) > 0
        for a, b in zip(one, two):
            np.testing.assert_array_equal(a, b, err_msg=part)
    # the extra pass did train what is not frozen, so the equality above could have failed
    lm_one, lm_two = weights(tmp_path / "one", "lm"), weights(tmp_path / "two", "lm")
    assert any(not np.array_equal(a, b) for a, b in zip(lm_one, lm_two))

"""`mmlearn train --task assistant --from RUN_DIR [--lora RANK] --data DIR --format vqa` as a user calls it: a tiny
assistant run, a VQA folder of a question kind it never saw, the adapted run folder, and its reload in safe mode."""
import json
import os
import subprocess

import pytest

TIMEOUT = 900
SCORES = ("image_qa_accuracy", "vqa_accuracy", "image_qa_edge_color")  # recomputed from the saved model


def mmlearn(*args):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_CONFIG")}
    env["MMLEARN_QUIET"] = "1"
    return subprocess.run(["mmlearn", *map(str, args)], capture_output=True, text=True, env=env, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def base_and_folder(tmp_path_factory, tiny_assistant_flags):
    "A finished tiny assistant run and a VQA folder of edge_color questions (the kind no default mixture asks)."
    from mmlearn.data.formats import write_vqa
    from mmlearn.data.synthetic import scene_questions

    root = tmp_path_factory.mktemp("lora")
    r = mmlearn("train", "--task", "assistant", "--out", root / "base", *tiny_assistant_flags)
    assert r.returncode == 0, r.stderr
    edge = scene_questions(4 * 15, seed=1, kinds=["edge_color"])
    write_vqa(root / "edge", [q for q in edge if q.split == "train"], "train2014")
    write_vqa(root / "edge", [q for q in edge if q.split != "train"], "val2014")
    return root, root / "base", root / "edge"


def test_lora_adapts_a_saved_assistant_and_the_run_reloads_in_safe_mode(base_and_folder):
    root, base, edge = base_and_folder
    out = root / "lora4"
    r = mmlearn("train", "--task", "assistant", "--from", base, "--lora", "4", "--data", edge, "--format", "vqa",
                "--out", out, "--epochs", "1", "--set", "replay=0.5")
    assert r.returncode == 0, r.stderr
    assert "fine-tuning (LoRA rank 4 on 4 projections)" in r.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["extra"] == {"from_run": str(base), "lora": 4, "replay": 0.5}
    assert (config["settings"]["from_run"], config["settings"]["lora"]) == (str(base), 4)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["lora_rank"] == 4.0 and 0 < metrics["trained_fraction"] <= 0.05
    assert set(SCORES) <= set(metrics)
    info = json.loads((out / "assistant.json").read_text())
    assert info["from_run"] == str(base) and info["lora"] == 4
    assert any("built-in training records replayed" in n for n in info["notes"])
    # a fresh process reloads the saved model (safe mode) and recomputes the same scores
    again = mmlearn("evaluate", out)
    assert again.returncode == 0, again.stderr
    for key in SCORES:
        line = next(x for x in again.stdout.splitlines() if x.split() and x.split()[0] == key)
        assert abs(float(line.split()[1]) - metrics[key]) < 5e-5, (key, line, metrics[key])
    # the adapters are folded into the kernels: the file holds a plain assistant, no LoRA weights
    import keras

    from mmlearn.llm import multimodal  # noqa: F401  (registers MultimodalLM and its layers for loading)

    model = keras.saving.load_model(out / "model.keras", safe_mode=True, compile=False)
    assert not [w.path for w in model.weights if "lora" in w.path]
    assert not any(layer.lora_enabled for block in model.lm.blocks for layer in (block.attn.qkv, block.ffn.w2))
    chat = mmlearn("chat", out, "what colour is the leftmost shape?")
    assert chat.returncode == 0, chat.stderr


def adapt_rank_2(base_and_folder, name: str, option: str):
    "One pass of LoRA rank 2 with `--set OPTION=1` on the edge folder; the run folder and the command's output."
    root, base, edge = base_and_folder
    out = root / name
    r = mmlearn("train", "--task", "assistant", "--from", base, "--lora", "2", "--set", f"{option}=1", "--data", edge,
                "--format", "vqa", "--out", out, "--epochs", "1")
    assert r.returncode == 0, r.stderr
    return out, r.stdout


def test_lora_regions_also_trains_the_region_projection(base_and_folder):
    base = base_and_folder[1]
    out, stdout = adapt_rank_2(base_and_folder, "lora2_regions", "lora_regions")
    assert "fine-tuning (LoRA rank 2 on 4 projections, the region projection trained)" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    import keras
    import numpy as np

    from mmlearn.llm import multimodal  # noqa: F401  (registers MultimodalLM and its layers for loading)
    from mmlearn.llm.lora import enable_lora

    model = keras.saving.load_model(base / "model.keras", safe_mode=True, compile=False)
    adapters = enable_lora(model, 2)["trained"]  # the same adapters without the region projection
    regions = sum(int(np.prod(w.shape)) for w in model.image_encoder.to_regions.weights)
    assert metrics["trained_parameters"] == adapters + regions


def test_lora_tokens_trains_only_the_rows_of_the_new_questions_tokens(base_and_folder):
    _, base, edge = base_and_folder
    out, stdout = adapt_rank_2(base_and_folder, "lora2_tokens", "lora_tokens")
    import keras
    import numpy as np

    from mmlearn.apps.assistant import DEFAULTS, vqa_folder
    from mmlearn.train import RunConfig
    from mmlearn.llm.lora import conversation_tokens, enable_lora
    from mmlearn.llm.multimodal import conversations

    before = keras.saving.load_model(base / "model.keras", safe_mode=True, compile=False)
    questions = vqa_folder(RunConfig(task="assistant", data=str(edge), format="vqa"))[1]
    tokens = conversation_tokens(conversations(before, questions, DEFAULTS["turns"]))
    assert f"fine-tuning (LoRA rank 2 on 4 projections, {len(tokens)} token rows trained)" in stdout
    old = before.lm.embedding.embeddings.numpy()
    after = keras.saving.load_model(out / "model.keras", safe_mode=True, compile=False)
    moved = np.flatnonzero(np.abs(after.lm.embedding.embeddings.numpy() - old).sum(1) > 0)
    assert 0 < len(moved) and set(moved.tolist()) <= set(tokens)  # the other rows are exactly as they were
    adapters = enable_lora(before, 2)["trained"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trained_parameters"] == adapters + len(tokens) * before.lm.dim


def test_from_without_lora_fine_tunes_every_weight(base_and_folder):
    root, base, edge = base_and_folder
    out = root / "full"
    r = mmlearn("train", "--task", "assistant", "--from", base, "--data", edge, "--format", "vqa", "--out", out,
                "--epochs", "1")
    assert r.returncode == 0, r.stderr
    assert "fine-tuning (every weight)" in r.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["lora_rank"] == 0.0 and metrics["trained_fraction"] == 1.0


@pytest.mark.parametrize(
    "args,message",
    [
        (["--from", "{base}", "--out", "{base}"], "is the run --from names: choose another folder"),
        (["--from", "{root}/edge"], "is not a run folder: config.json is missing"),
        (["--from", "{base}", "--set", "lora=-1", "--out", "{root}/bad"], "lora=-1: expected a LoRA rank >= 1"),
        (["--from", "{base}", "--lora", "-2"], "argument --lora: must be a positive integer, got -2"),
        (["--from", "{base}", "--set", "lora_regions=1", "--out", "{root}/bad"], "lora_regions=1 trains the region projection beside LoRA adapters: give --lora RANK too"),
        (["--from", "{base}", "--set", "lora_tokens=1", "--out", "{root}/bad"], "lora_tokens=1 trains token rows beside LoRA adapters: give --lora RANK too"),
    ],
)
def test_from_and_lora_refuse_bad_input_in_one_line(base_and_folder, args, message):
    root, base, _ = base_and_folder
    fill = lambda a: a.replace("{base}", str(base)).replace("{root}", str(root))
    r = mmlearn("train", "--task", "assistant", *map(fill, args))
    assert r.returncode == 2, r.stderr
    assert fill(message) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr

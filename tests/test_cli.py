"""The `mmlearn` command as a user calls it: a real subprocess, real files."""
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest

from mmlearn.data.formats import load_clotho, load_flickr8k, load_mosi

TIMEOUT = 900


def cli_env(**extra):
    "A user's environment: the command's own TensorFlow log level, no progress bars unless asked for."
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_CONFIG", "MMLEARN_CPU_DEVICES")}
    return {**env, "MMLEARN_QUIET": "1", **extra}


def mmlearn(*args, cwd=None, env=None):
    return subprocess.run(["mmlearn", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env or cli_env(), timeout=TIMEOUT)


def test_help_lists_subcommands_with_examples():
    r = mmlearn("--help")
    assert r.returncode == 0
    for cmd in ("train", "evaluate", "predict", "tasks", "chat", "data", "bench", "scale", "docs"):
        assert cmd in r.stdout
        sub = mmlearn(cmd, "--help")
        assert sub.returncode == 0 and "example: mmlearn " + cmd in sub.stdout


def test_tasks_lists_the_registry_with_settings():
    r = mmlearn("tasks")
    assert r.returncode == 0, r.stderr
    for name in ("caption", "audio_caption", "summarize", "retrieval", "search", "sentiment", "digits", "assistant"):
        assert f"\n{name}: " in "\n" + r.stdout, name
    assert "image_size=48" in r.stdout and "--format clotho, audiocaps" in r.stdout


@pytest.mark.parametrize("name,loader,n", [("shapes", load_flickr8k, 12), ("digits", load_flickr8k, 10),
                                           ("sounds", load_clotho, 6), ("speech", load_clotho, 3),
                                           ("sentiment", load_mosi, 6)])
def test_data_writes_a_dataset_the_loader_reads_back(tmp_path, name, loader, n):
    out = tmp_path / name
    r = mmlearn("data", name, out, "--samples", n, "--seed", 3)
    assert r.returncode == 0, r.stderr
    assert f"wrote {name}" in r.stdout
    records = loader(out)
    assert len(records) == n
    for rec in records:
        assert rec.path.is_absolute() and rec.path.is_file()
        assert out.resolve() in rec.path.parents
        assert rec.captions or rec.label is not None


def test_data_is_deterministic_and_shows_progress(tmp_path):
    env = {k: v for k, v in cli_env().items() if k != "MMLEARN_QUIET"}  # a user who wants progress bars
    runs = [mmlearn("data", "shapes", tmp_path / d, "--samples", 5, "--seed", 7, env=env) for d in ("a", "b")]
    assert all(r.returncode == 0 for r in runs)
    assert "writing shapes" in runs[0].stderr and "/5 " in runs[0].stderr  # tqdm's bar (it clears itself when done), on stderr
    a = sorted(p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file())
    b = sorted(p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert a == b


@pytest.mark.parametrize("args,message", [
    (["data", "pictures", "x"], "invalid choice: 'pictures'"),
    (["data", "shapes", "{tmp}/y", "--samples", "0"], "--samples must be a positive"),
    (["data", "shapes", "{tmp}/afile"], "exists and is not an empty folder"),
    (["data", "shapes", "{tmp}/y", "--samples", "many"], "invalid int value: 'many'"),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path, args, message):
    (tmp_path / "afile").write_text("x")
    r = mmlearn(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def as_from_a_terminal(argv: list) -> list:
    """`argv` started as a shell starts a foreground command, with SIGINT neither ignored nor blocked. A child inherits both
    from its parent, and a pytest worker can hold either (in two full runs the Ctrl-C below was never delivered)."""
    code = ("import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
            "signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])")
    return [sys.executable, "-c", code, *argv]


def test_train_interrupt_evaluate_resume_predict_caption(tmp_path):
    "Ctrl-C after the first epoch leaves a model that evaluate reads; the same command resumes and finishes."
    run = tmp_path / "run"
    argv = ["mmlearn", "train", "--task", "caption", "--samples", "128", "--epochs", "3", "--set", "test_samples=64",
            "--out", str(run)]
    worker = (signal.getsignal(signal.SIGINT), signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))
    print(f"this test worker's SIGINT: handler {worker[0]}, blocked {worker[1]}")
    p = subprocess.Popen(as_from_a_terminal(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    deadline = time.time() + TIMEOUT
    while not (run / "model.keras").is_file() and p.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 130, err
    assert err.strip().splitlines() == [f"mmlearn train: interrupted; {run}/model.keras holds the last completed epoch, "
                                        "and the same command resumes the run"]
    assert not (run / "metrics.json").exists()
    interrupted_mid_training = (run / "backup").is_dir()

    e = mmlearn("evaluate", run)  # the interrupted run's model is usable
    assert e.returncode == 0, e.stderr
    assert "bleu4" in e.stdout and "exact_match" in e.stdout

    r = subprocess.run(argv, capture_output=True, text=True, env=cli_env(), timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert ("resuming from epoch" in r.stdout) == interrupted_mid_training
    for name in ("metrics.json", "config.json", "model.keras", "task.json", "report.md", "training_curves.png", "sample_predictions.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "exact_match", "token_accuracy", "train_seconds", "samples"):
        assert key in metrics
    assert metrics["samples"] == 128 and all(0 <= metrics[k] <= 1 for k in ("bleu4", "rouge_l", "exact_match"))
    assert json.loads((run / "config.json").read_text())["samples"] == 128
    assert "exact_match" in r.stdout  # the final table
    assert "| `bleu4` |" in (run / "report.md").read_text()
    (run / "report.md").unlink()
    e = mmlearn("evaluate", run)  # a finished run: evaluate refreshes its report
    assert e.returncode == 0 and f"refreshed {run}/report.md" in e.stdout and (run / "report.md").is_file(), e.stderr

    assert mmlearn("data", "shapes", tmp_path / "imgs", "--samples", 2).returncode == 0
    images = sorted((tmp_path / "imgs" / "Images").iterdir())
    p = mmlearn("predict", run, "--image", images[0], "--image", images[1])
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.strip().splitlines()) == 2

    wrong = mmlearn("predict", run, "--text", "a red circle")  # a predict input of the wrong modality
    assert wrong.returncode == 2 and "the caption task takes --image PATH, not --text" in wrong.stderr and "Traceback" not in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1

    predict_refuses_damaged_images_and_marks_a_caption_cut_at_the_length_limit(run, images[0], tmp_path)


@pytest.mark.parametrize("args,message", [
    (["train", "--task", "translate"], "unknown task 'translate': expected one of caption, audio_caption"),
    (["train", "--set", "depth=3"], "unknown setting 'depth': the task declares batch_size"),
    (["train", "--set", "image_size=big"], "setting image_size: expected an integer, got 'big'"),
    (["train", "--set", "image_size"], "--set takes KEY=VALUE, got 'image_size'"),
    (["train", "--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
    (["train", "--batch-size", "-4"], "argument --batch-size: must be a positive integer, got -4"),
    (["train", "--learning-rate", "fast"], "argument --learning-rate: expected a positive float, got 'fast'"),
    (["train", "--data", "{tmp}/nodata", "--format", "flickr8k"], "data folder {tmp}/nodata does not exist"),
    (["train", "--data", "{tmp}", "--format", "tiff"], "unknown format 'tiff'"),
    (["train", "--data", "{tmp}/empty", "--format", "flickr8k"], "the flickr8k layout lists no records here"),
    (["train", "--data", "{tmp}/nothing", "--format", "fsdd"], "no .wav files"),
    (["train", "--strategy", "multiworker", "--epochs", "1", "--out", "{tmp}/mw"], "TF_CONFIG environment variable, which is not set"),
    (["evaluate", "{tmp}"], "config.json is missing"),
    (["evaluate", "{tmp}/run"], "has no model.keras"),
    (["predict", "{tmp}/run", "--image", "{tmp}/afile"], "has no model.keras"),
    (["predict", "{tmp}/missing", "--image", "x.png"], "run folder {tmp}/missing does not exist"),
    (["predict", "{tmp}/audio_run", "--text", "a dog barks"], "the audio_caption task takes --audio PATH.wav, not --text"),  # caption on clotho
])
def test_bad_run_input_is_one_line_and_nonzero(tmp_path, args, message):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "empty" / "Images").mkdir(parents=True)
    (tmp_path / "empty" / "captions.txt").write_text("image,caption\n")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({"task": "digits"}))  # a run that never finished an epoch
    (tmp_path / "audio_run").mkdir()   # config.json's task and format choose the module: caption on clotho is audio captioning
    (tmp_path / "audio_run" / "config.json").write_text(json.dumps({"task": "caption", "data": str(tmp_path), "format": "clotho"}))
    (tmp_path / "audio_run" / "model.keras").write_bytes(b"")
    r = mmlearn(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.returncode == 2, r.stderr
    assert message.replace("{tmp}", str(tmp_path)) in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1



def png_claiming(w: int, h: int) -> bytes:
    "A PNG whose header claims w x h pixels, with valid checksums and almost no pixel data."

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 4)) + chunk(b"IEND", b"")


def mono_wav(data: bytes, tag: int, bits: int, rate: int = 16000) -> bytes:
    "A mono WAV file written by hand, so that its samples can be damaged (no writer makes these)."
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate * bits // 8, bits // 8, bits)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def damaged_folder(tmp_path, case: str):
    "A dataset from `mmlearn data`, one file damaged as issue 19 found it: (folder, format, that file)."
    name, fmt = ("shapes", "flickr8k") if case in ("cut png", "link out") else ("sounds", "clotho")
    folder = tmp_path / name
    assert mmlearn("data", name, folder, "--samples", 12).returncode == 0
    files = sorted((folder / ("Images" if fmt == "flickr8k" else "development")).iterdir())
    target = max(files, key=lambda f: f.stat().st_size)  # a PNG over 200 bytes, when there is one
    data = target.read_bytes()
    if case == "cut png":  # Pillow alone decodes the first 200 bytes of such a PNG as if they were all of it
        target.write_bytes(data[:200] if len(data) > 200 else data[:-12])
    elif case == "link out":  # a whole image, but outside the dataset
        (tmp_path / "outside.png").write_bytes(data)
        target.unlink()
        target.symlink_to(tmp_path / "outside.png")
    elif case == "zero frames":
        target.write_bytes(mono_wav(b"", tag=1, bits=16))
    else:  # one second of 32-bit float NaN
        target.write_bytes(mono_wav(np.full(16000, np.nan, "<f4").tobytes(), tag=3, bits=32))
    return folder, fmt, target


@pytest.mark.parametrize(
    "case,message",
    [
        ("cut png", ": truncated: "),
        ("zero frames", "no samples: the data chunk is empty; expected at least one frame"),
        ("nan wav", "16000 of 16000 samples are NaN or infinite (the first in frame 0); expected finite"),
        ("link out", "escapes the dataset root"),
    ],
)
def test_train_on_a_damaged_dataset_is_one_line_naming_the_file_and_line(tmp_path, case, message):
    "Issue 19's cases: once exit 0 (trained on) or 1 (a TensorFlow traceback); now 2, before TF loads."
    folder, fmt, target = damaged_folder(tmp_path, case)
    run = tmp_path / "run"
    r = mmlearn("train", "--data", folder, "--format", fmt, "--epochs", 1, "--samples", 8, "--out", run)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    manifest = next(folder.glob("*.csv"), folder / "captions.txt")
    lines = enumerate(manifest.read_text().splitlines(), 1)
    line = next(i for i, text in lines if text.startswith(target.name))
    assert message in r.stderr and f"{manifest}, line {line}: " in r.stderr, r.stderr
    assert target.name in r.stderr and not run.exists()


@pytest.mark.parametrize(
    "out,message",
    [
        ("afile", "--out {tmp}/afile is an existing file; expected a run folder"),
        ("afile/run", "--out {tmp}/afile/run cannot be made: {tmp}/afile is a file, where a folder should"),
    ],
)
def test_train_out_an_existing_file_is_one_line(tmp_path, out, message):
    (tmp_path / "afile").write_text("x")
    r = mmlearn("train", "--task", "caption", "--epochs", 1, "--samples", 8, "--out", tmp_path / out)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert message.replace("{tmp}", str(tmp_path)) in r.stderr
    assert (tmp_path / "afile").read_text() == "x"


def predict_refuses_damaged_images_and_marks_a_caption_cut_at_the_length_limit(run, good, tmp_path):
    "Run by the caption test above on its trained run (a run of its own would cost a minute of training)."
    damaged = {  # two of them: each call loads TensorFlow; tests/test_damaged_input.py tries the rest on read_image
        "cut.png": good.read_bytes()[:-12],  # Pillow alone decodes it as if it were whole
        "huge.png": png_claiming(100_000, 100_000),
    }
    for name, data in damaged.items():
        (tmp_path / name).write_bytes(data)
        r = mmlearn("predict", run, "--image", good, "--image", tmp_path / name)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"{tmp_path / name}: " in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert r.stdout == ""  # nothing half-predicted

    task = json.loads((run / "task.json").read_text())
    (run / "task.json").write_text(json.dumps({**task, "max_length": 2}))  # too short for any caption to end
    p = mmlearn("predict", run, "--image", good)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().endswith("... [no end token after 2 tokens: cut at the length limit]"), p.stdout


def test_the_command_and_the_registry_do_not_load_widgets():
    "ipywidgets is for notebooks: running a task from the command line imports neither it nor mmlearn.widgets."
    code = "import sys, mmlearn.cli, mmlearn.tasks; print(sorted(m for m in ('ipywidgets', 'mmlearn.widgets') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout


def test_data_vqa_writes_scene_questions_that_load_vqa_reads_back(tmp_path):
    from mmlearn.data.formats import load_vqa
    from mmlearn.evaluate import vqa_accuracy

    out = tmp_path / "vqa"
    r = mmlearn("data", "vqa", out, "--samples", 6, "--seed", 1)
    assert r.returncode == 0, r.stderr
    assert "generating 6 vqa scenes, 4 questions each" in r.stdout and "wrote vqa (vqa layout)" in r.stdout
    train, val = load_vqa(out, "train2014"), load_vqa(out, "val2014")
    assert len(train) + len(val) == 6 * 4 and train and val
    assert {r.meta["mmlearn_split"] for r in train} == {"train"}
    assert "train" not in {r.meta["mmlearn_split"] for r in val}  # test and held-out questions only
    for rec in train + val:
        assert rec.path.is_file() and out.resolve() in rec.path.parents
        assert rec.question and len(rec.answers) == 10
    assert vqa_accuracy([r.answers for r in val], [r.label for r in val]) == 1.0
    again = mmlearn("data", "vqa", out)
    assert again.returncode == 2 and "exists and is not an empty folder" in again.stderr


# `mmlearn chat` on a tiny assistant run (trained once for this module by the real command, about a minute)

QUESTION = "what colour is the circle?"


@pytest.fixture(scope="module")
def assistant_run(tmp_path_factory, tiny_assistant_flags):
    "A finished assistant run (tiny: it answers nonsense; the tests check behaviour), a scene and a clip."
    from mmlearn.data.formats import write_image, write_wav
    from mmlearn.data.synthetic import scene_questions, sound_questions

    root = tmp_path_factory.mktemp("assistant")
    r = mmlearn("train", "--task", "assistant", "--out", root / "run", *tiny_assistant_flags)
    assert r.returncode == 0, r.stderr
    scene, clip = scene_questions(1, seed=3)[0], sound_questions(1, seed=3)[0]
    clip_file = write_wav(root / "clip.wav", clip.media, clip.sample_rate)
    return root / "run", write_image(root / "scene.png", scene.media), clip_file


def expected_answer(run, question, **media):
    "What the assistant answers in this process, sampled as the tests ask the command to (temperature 1)."
    from mmlearn.apps.assistant import Assistant

    return Assistant.load(run).ask(question, temperature=1.0, seed=0, **media)


def test_chat_answers_one_question_and_exits(assistant_run):
    run, scene, _ = assistant_run
    r = mmlearn("chat", run, "--image", scene, "--temperature", 1, QUESTION)
    assert r.returncode == 0, r.stderr
    expected = expected_answer(run, QUESTION, image=scene)
    assert expected and r.stdout == expected + "\n", (r.stdout, expected)
    assert r.stderr == ""


def read_until(p, marker: bytes, timeout: float = 120) -> bytes:
    "What the running process writes to stdout until `marker` has come, read as it arrives."
    got, deadline = b"", time.monotonic() + timeout
    while not got.endswith(marker):
        left = deadline - time.monotonic()
        assert left > 0 and p.poll() is None, f"no {marker!r} after {got!r} (exit status {p.poll()})"
        if select.select([p.stdout], [], [], min(left, 1.0))[0]:
            piece = os.read(p.stdout.fileno(), 4096)
            assert piece, f"stdout closed after {got!r}"
            got += piece
    return got


def test_chat_conversation_streams_each_answer_before_the_next_question(assistant_run):
    "Each answer reaches stdout while the command waits for the next line (flushed, not held until exit)."
    run, _, clip = assistant_run
    questions = ["how many events are in the clip?", "which sound comes first?"]
    p = subprocess.Popen(
        ["mmlearn", "chat", run, "--audio", clip, "--temperature", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    try:
        assert read_until(p, b"you> ") == b"you> "
        answers = []
        for q in questions:
            p.stdin.write(q.encode() + b"\n")
            p.stdin.flush()
            answers.append(read_until(p, b"you> ")[: -len(b"you> ")].decode())
        p.stdin.write(b"\n")  # an empty line ends the conversation
        p.stdin.flush()
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert out == b"" and err == b""
    assert answers == [expected_answer(run, q, audio=clip) + "\n" for q in questions]


def test_chat_conversation_ends_at_end_of_input_and_survives_a_too_long_question(assistant_run):
    run, scene, _ = assistant_run
    lines = "why " * 400 + "\n" + QUESTION + "\n"
    r = subprocess.run(
        ["mmlearn", "chat", run, "--image", scene],
        input=lines,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=TIMEOUT,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("you> you> ") and r.stdout.endswith("you> \n"), r.stdout
    assert r.stdout.count("you> ") == 3, r.stdout
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("mmlearn chat: error: the prompt is ")
    assert "the model reads at most" in r.stderr


def test_chat_ctrl_c_at_the_prompt_ends_the_conversation_cleanly(assistant_run):
    run, scene, _ = assistant_run
    p = subprocess.Popen(
        as_from_a_terminal(["mmlearn", "chat", str(run), "--image", str(scene)]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    try:
        read_until(p, b"you> ")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert out == b"\n" and err == b""


@pytest.mark.parametrize(
    "args,message",
    [
        (["--image", "{tmp}/none.png", "hi"], "{tmp}/none.png: image file not found (--image)"),
        (["--audio", "{tmp}/none.wav", "hi"], "{tmp}/none.wav: sound file not found (--audio)"),
        (["--image", "{tmp}/text.png", "hi"], "{tmp}/text.png: "),
        (["--audio", "{tmp}/text.wav", "hi"], "{tmp}/text.wav: "),
        (["--image", "{scene}", "  "], "the question is empty"),
        (["--image", "{scene}", "why " * 400], "the model reads at most"),
    ],
)
def test_chat_bad_input_is_one_line_and_exit_2(assistant_run, tmp_path, args, message):
    run, scene, _ = assistant_run
    (tmp_path / "text.png").write_text("not a picture")
    (tmp_path / "text.wav").write_text("not a sound")
    fill = lambda a: a.replace("{tmp}", str(tmp_path)).replace("{scene}", str(scene))
    r = mmlearn("chat", run, *map(fill, args))
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("mmlearn chat: error: ") and fill(message) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["chat", "{tmp}/digits_run", "hi"],
            "digits_run is a run of the 'digits' task; expected a run of 'assistant'",
        ),
        (["chat", "{tmp}/unfinished", "hi"], "{tmp}/unfinished has no model.keras"),
        (["chat", "{tmp}/missing", "hi"], "run folder {tmp}/missing does not exist"),
        (
            ["train", "--task", "assistant", "--lora", "8"],
            "--lora 8 adapts a saved model with rank-8 adapters",
        ),
        (
            ["train", "--task", "caption", "--from", "{tmp}/unfinished"],
            "--from continues a saved assistant run",
        ),
        (["train", "--task", "assistant", "--from", "{tmp}/unfinished"], "{tmp}/unfinished has no model.keras"),
        (
            ["train", "--lora", "0", "--from", "{tmp}/unfinished"],
            "argument --lora: must be a positive integer",
        ),
    ],
)
def test_chat_and_train_from_refuse_the_wrong_run_in_one_line(tmp_path, args, message):
    (tmp_path / "digits_run").mkdir()
    (tmp_path / "digits_run" / "config.json").write_text(json.dumps({"task": "digits"}))
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "config.json").write_text(json.dumps({"task": "assistant"}))
    r = mmlearn(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.returncode == 2, r.stderr
    assert message.replace("{tmp}", str(tmp_path)) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr

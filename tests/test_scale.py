"""mmlearn at scale, as a user runs it: two devices, two worker processes, a run killed mid-epoch and resumed,
repeated runs, data streamed from disk, and files that must not run code. Real processes, real signals, tiny sizes."""
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from mmlearn.core import fsdd_root

TIMEOUT = 900


def cli_env(**extra):
    "A user's environment: no progress bars, the command's own TensorFlow log level, no cluster."
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_CONFIG", "MMLEARN_CPU_DEVICES")}
    return {**env, "MMLEARN_QUIET": "1", **extra}


def mmlearn(*args, env=None):
    return subprocess.run(["mmlearn", *map(str, args)], capture_output=True, text=True, env=env or cli_env(), timeout=TIMEOUT)


def held_out(run):
    "A run's metrics.json without its timing."
    m = json.loads((run / "metrics.json").read_text())
    m.pop("train_seconds")
    return m


@pytest.fixture(scope="module")
def fsdd_subset(tmp_path_factory):
    "A small copy of FSDD: two speakers; recordings 0-4 of each digit are its test split (100), 5-14 train (200)."
    root = fsdd_root()
    if root is None:
        pytest.skip("MMLEARN_FSDD is not set to the Free Spoken Digit Dataset folder")
    out = tmp_path_factory.mktemp("fsdd") / "recordings"
    out.mkdir()
    for digit in range(10):
        for speaker in ("george", "jackson"):
            for i in range(15):
                shutil.copy(root / "recordings" / f"{digit}_{speaker}_{i}.wav", out)
    return out.parent


def train_args(data, out, *more):
    "A digits run of a few seconds: 192 clips, 8 epochs of 12 steps (held-out accuracy about 0.85, over seeds 0.81-0.86)."
    return ["train", "--task", "digits", "--data", data, "--format", "fsdd", "--samples", 192, "--epochs", 8,
            "--batch-size", 16, "--learning-rate", 0.005, "--seed", 0, "--out", out, *more]


@pytest.fixture(scope="module")
def reference(fsdd_subset, tmp_path_factory):
    "An uninterrupted run on one device: what the others must reproduce (trained once per session, even over xdist workers)."
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # this session's folder, common to its workers
    run = shared / "scale-reference"
    with open(shared / "scale-reference.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (run / "metrics.json").is_file():
            shutil.rmtree(run, ignore_errors=True)
            r = mmlearn(*train_args(fsdd_subset, run))
            assert r.returncode == 0, r.stderr
    assert not (run / "backup").exists()  # a finished run leaves no backup behind
    return run


def test_same_seed_writes_identical_metrics(fsdd_subset, reference, tmp_path):
    r = mmlearn(*train_args(fsdd_subset, tmp_path / "again"))
    assert r.returncode == 0, r.stderr
    assert held_out(tmp_path / "again") == held_out(reference)


def test_killed_mid_epoch_resumes_to_the_same_metrics(fsdd_subset, reference, tmp_path):
    run = tmp_path / "killed"
    argv = ["mmlearn", *map(str, train_args(fsdd_subset, run))]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    meta, deadline = run / "backup" / "training_metadata.json", time.time() + TIMEOUT
    while p.poll() is None and time.time() < deadline:  # the first epoch is backed up and saved: kill during the next
        if (run / "model.keras").is_file() and meta.is_file():
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert p.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (run / "metrics.json").exists()
    epoch = json.loads(meta.read_text())["epoch"]
    assert 1 <= epoch < 8
    with zipfile.ZipFile(run / "model.keras") as z:  # the last completed epoch's model is whole
        assert z.testzip() is None and {"config.json", "model.weights.h5"} <= set(z.namelist())

    r = subprocess.run(argv, capture_output=True, text=True, env=cli_env(), timeout=TIMEOUT)  # the same command again
    assert r.returncode == 0, r.stderr
    assert f"resuming from epoch {epoch}" in r.stdout
    assert held_out(run) == held_out(reference)
    assert not (run / "backup").exists()


def test_mirrored_over_two_cpu_devices_matches_one_device(fsdd_subset, reference, tmp_path):
    run = tmp_path / "mirrored"
    r = mmlearn(*train_args(fsdd_subset, run, "--strategy", "mirrored"), env=cli_env(MMLEARN_CPU_DEVICES="2"))
    assert r.returncode == 0, r.stderr
    assert "on 2 replicas (mirrored)" in r.stdout
    m, ref = held_out(run), held_out(reference)
    assert m["samples"] == ref["samples"]
    assert abs(m["accuracy"] - ref["accuracy"]) <= 0.1 and abs(m["f1_macro"] - ref["f1_macro"]) <= 0.1, (m, ref)


def test_two_workers_match_one_device_and_only_the_chief_writes(fsdd_subset, reference, tmp_path):
    from mmlearn.distributed import run_workers
    run, scratch = tmp_path / "multiworker", tmp_path / "scratch"
    scratch.mkdir()
    argv = ["mmlearn", *map(str, train_args(fsdd_subset, run, "--strategy", "multiworker"))]
    chief, worker = run_workers(argv, 2, cli_env(TMPDIR=str(scratch)), timeout=TIMEOUT)
    assert chief.returncode == 0 and worker.returncode == 0, chief.stderr + worker.stderr
    assert "on 2 replicas (multiworker)" in chief.stdout and "the chief writes the run folder" in worker.stdout
    assert "wrote " in chief.stdout and "wrote " not in worker.stdout
    assert list(scratch.iterdir()) == []  # the worker's temporary run folder is gone
    m, ref = held_out(run), held_out(reference)
    assert m["samples"] == ref["samples"]
    assert abs(m["accuracy"] - ref["accuracy"]) <= 0.1 and abs(m["f1_macro"] - ref["f1_macro"]) <= 0.1, (m, ref)


def test_streaming_from_disk_keeps_memory_flat(tmp_path):
    from mmlearn.distributed import peak_memory_mb
    peak = {}
    for n in (40, 400):
        root = tmp_path / f"shapes{n}"
        assert mmlearn("data", "shapes", root, "--samples", n).returncode == 0
        code = f"from mmlearn.distributed import fit_scenes; print(fit_scenes({str(root)!r}, stream=True)['images'])"
        peak[n], r = peak_memory_mb([sys.executable, "-c", code], env=cli_env(TF_CPP_MIN_LOG_LEVEL="3"))
        assert r.returncode == 0 and r.stdout.split()[-1] == str(n), r.stderr
    assert peak[400] / peak[40] <= 1.3, peak


def test_a_model_that_carries_code_is_refused(tmp_path):
    import keras
    inputs = keras.Input((8000,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x[:, :10] * 2)(inputs))
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "config.json").write_text(json.dumps({"task": "digits"}))
    (run / "task.json").write_text(json.dumps({"classes": [str(i) for i in range(10)], "sample_rate": 8000, "clip_samples": 8000}))
    with pytest.raises(ValueError, match="Lambda"):
        keras.saving.load_model(run / "model.keras", safe_mode=True)
    r = mmlearn("evaluate", run)
    assert r.returncode == 2 and "Lambda" in r.stderr and "arbitrary code execution" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name,message", [("../../secret.png", "escapes the dataset root"), ("/etc/passwd", "absolute path")])
def test_a_manifest_cannot_reach_outside_its_dataset(tmp_path, name, message):
    data = tmp_path / "data"
    (data / "Images").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"not for you")
    (data / "captions.txt").write_text(f"image,caption\n{name},a caption\n")
    r = mmlearn("train", "--task", "caption", "--data", data, "--format", "flickr8k", "--out", tmp_path / "run")
    assert r.returncode == 2 and message in r.stderr and "captions.txt, line 2" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()

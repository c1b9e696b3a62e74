"""The instruction data of mmlearn.data.synthetic as a user gets it: seeded, true by construction, split as documented."""

import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmlearn.core import fsdd_root
from mmlearn.data.synthetic import (
    AUDIO_TOKEN,
    DIGIT_WORDS,
    IMAGE_QUESTIONS,
    IMAGE_TOKEN,
    SPLITS,
    heldout_rule,
    instruction_mixture,
    instruction_splits,
    parse_scene_caption,
    scene_questions,
    shapes_scenes,
)


def key(r):
    return (r.task, r.media_index, r.prompt, r.answer, r.question_type, r.answer_type, r.phrasing, r.split)


def test_the_data_package_does_not_import_loaders_or_apps():
    from pathlib import Path

    from mmlearn.data import synthetic

    source = Path(synthetic.__file__).read_text()
    assert not re.search(r"^\s*(from|import) [.\w]*(formats|apps)", source, re.MULTILINE)


def test_mixture_is_seeded_and_uniform():
    counts = {"image_qa": 40, "audio_qa": 12, "image_caption": 5, "audio_caption": 5, "summarize": 5}
    a, b, c = (
        instruction_mixture(counts, seed=2),
        instruction_mixture(counts, seed=2),
        instruction_mixture(counts, seed=3),
    )
    assert [key(r) for r in a] == [key(r) for r in b]
    assert all(np.array_equal(x.media, y.media) for x, y in zip(a, b))
    assert [key(r) for r in a] != [key(r) for r in c]
    assert Counter(r.task for r in a) == Counter(counts)
    for r in a:
        token = AUDIO_TOKEN if r.modality == "audio" else IMAGE_TOKEN
        assert r.prompt.startswith(token + "\n") and r.prompt.count(token) == 1
        assert r.split in SPLITS and r.answer and r.question
    assert sum(len(v) for v in instruction_splits(a).values()) == len(a)


@pytest.mark.parametrize(
    "counts,message",
    [
        ({"image_qa": -2}, "counts['image_qa'] must be a non-negative integer, got -2"),
        ({"image_qa": 1.5}, "counts['image_qa'] must be a non-negative integer, got 1.5"),
        ({"chat": 1}, "counts has unknown tasks ['chat']"),
        ({"digits": 3}, "needs digits=(waveforms, labels, sample_rate)"),
    ],
)
def test_bad_counts_name_the_parameter(counts, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        instruction_mixture(counts)


def _target_pairs(r, caption):
    "The (colour, shape) pairs a scene question is about, and its answer, worked out from the caption alone."
    objs, layout = parse_scene_caption(caption)
    template = re.escape(IMAGE_QUESTIONS[r.question_type][r.phrasing])
    for slot in ("ref2", "ref", "a_ref", "things"):
        template = template.replace(re.escape("{" + slot + "}"), f"(?P<{slot}>[a-z ]+?)")
    s = re.match(template + "$", r.question).groupdict()

    def find(ref):
        words = [w for w in ref.split() if w != "object"]
        hits = [k for k, o in enumerate(objs) if all(w in o for w in words)]
        assert len(hits) == 1, (ref, caption)
        return hits[0]

    if r.question_type == "count":
        return [], None
    if r.question_type == "exists":
        pair = tuple(s["a_ref"].split()[1:])
        return [pair], "yes" if pair in [o[1:] for o in objs] else "no"
    i = find(s["ref"])
    if r.question_type == "position":
        j = find(s["ref2"])
        words = ("left", "right") if layout == "row" else ("above", "below")
        return [objs[i][1:], objs[j][1:]], words[0] if i < j else words[1]
    return [objs[i][1:]], objs[i][("size", "color", "shape").index(r.question_type)]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), split_seed=st.integers(0, 50), per_scene=st.integers(1, 6))
def test_held_out_phrasings_and_pairs_never_reach_training(seed, split_seed, per_scene):
    held = heldout_rule(split_seed)
    scenes = shapes_scenes(-(-120 // per_scene), seed=seed)
    records = scene_questions(120, seed=seed, per_scene=per_scene, scenes=scenes, heldout=held)
    for r in records:
        pairs, answer = _target_pairs(r, scenes.captions[r.media_index][0])
        if answer is not None:
            assert r.answer == answer
        assert any(p in held.image_pairs for p in pairs) == (r.split == "heldout_combination")
        assert (r.phrasing == held.phrasings["image_qa", r.question_type]) == (r.split == "heldout_phrasing")
    train = {r.media_index for r in records if r.split == "train"}
    assert train.isdisjoint(r.media_index for r in records if r.split != "train")


def test_spoken_digits_from_the_real_fsdd():
    root = fsdd_root()
    if root is None:
        pytest.skip("MMLEARN_FSDD is not set to the Free Spoken Digit Dataset folder")
    from mmlearn.data.formats import load_fsdd, read_wav

    recs = load_fsdd(root)[::25]
    waves = [read_wav(r.path)[0] for r in recs]
    is_test = [r.meta["split"] == "test" for r in recs]
    data = (waves, [r.label for r in recs], 8000, is_test)
    mix = instruction_mixture({"digits": len(recs)}, digits=data)
    assert len(mix) == len(recs)
    for r in mix:
        assert r.answer == DIGIT_WORDS[recs[r.media_index].label]
        assert (r.split != "train") == is_test[r.media_index]  # FSDD's official test split is kept
        assert r.sample_rate == 8000 and r.media.dtype == np.float32

"""The bag-of-words VQA baseline of the fusion chapter (`mmlearn.represent.fusion`).

The bag of words is checked against counts known by construction (hypothesis builds questions from chosen words,
with random case, punctuation and spacing) and against Keras's `TextVectorization(output_mode="count")`. The
trained model must beat the question-type prior on held-out scenes, give only answers it was trained on, give the
same answers for the same seed, and survive a `.keras` round trip in safe mode. The fusion module must not import
the evaluation or training modules (data flows one way).
"""

import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmlearn.data.synthetic import scene_questions
from mmlearn.evaluate import vqa_accuracy
from mmlearn.represent.fusion import (
    BagOfWordsVQA,
    answer_classes,
    answer_targets,
    bag_of_words,
    question_vocabulary,
    unseen_answers,
    vqa_baseline,
    vqa_inputs,
)

QUESTIONS = scene_questions(4000, seed=0)  # 1,600 left the held-out margin within noise (0.00-0.07)
TRAIN = [r for r in QUESTIONS if r.split == "train"]
TEST = [r for r in QUESTIONS if r.split == "test"]
EPOCHS, BATCH = 8, 32  # small data: smaller batches give more steps in the same time
VOCABULARY = ["how", "many", "red", "squares", "is", "there", "a", "circle"]
UNKNOWN = ["zebra", "purple", "hexagon"]


@pytest.fixture(scope="module")
def trained():
    "The baseline fitted on the training split of 4,000 scene questions, and its answers to the test split."
    return vqa_baseline(TRAIN, TEST, epochs=EPOCHS, batch_size=BATCH, seed=0)


def prior_answers(train_records, records) -> list:
    "Each question gets the most frequent training answer of its question type, whatever the image shows."
    counts = defaultdict(Counter)
    for r in train_records:
        counts[r.question_type][r.answer] += 1
    best = {t: max(c, key=lambda a: (c[a], a)) for t, c in counts.items()}
    return [best[r.question_type] for r in records]


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(st.sampled_from(VOCABULARY + UNKNOWN), min_size=1, max_size=12),
    upper=st.lists(st.booleans(), min_size=12, max_size=12),
    separators=st.lists(st.sampled_from([" ", "  ", "\t", ", ", "? ", "! "]), min_size=12, max_size=12),
)
def test_bag_of_words_counts_the_words_it_was_built_from(words, upper, separators):
    # case, punctuation and spacing must not matter
    question = "".join((w.upper() if u else w) + s for w, u, s in zip(words, upper, separators))
    counts, unknown = bag_of_words([question], VOCABULARY)
    expected = [words.count(w) for w in VOCABULARY]
    assert counts[0].tolist() == expected, question
    assert unknown.tolist() == [sum(w in UNKNOWN for w in words)], question


def test_bag_of_words_matches_keras_text_vectorization():
    # a vocabulary from part of the questions, so that the rest has unknown words
    vocabulary = question_vocabulary(QUESTIONS[:200])
    texts = [r.question for r in QUESTIONS]
    counts, unknown = bag_of_words(texts, vocabulary)
    reference = keras.layers.TextVectorization(vocabulary=vocabulary, output_mode="count")
    theirs = keras.ops.convert_to_numpy(reference(texts))
    # column 0 of Keras's output counts the out-of-vocabulary words
    np.testing.assert_array_equal(counts, theirs[:, 1:])
    np.testing.assert_array_equal(unknown, theirs[:, 0])
    assert unknown.sum() > 0


def test_vocabulary_and_classes_come_from_training_records():
    vocabulary, answers = question_vocabulary(TRAIN), answer_classes(TRAIN)
    plain = [r.question.lower().replace("?", "").replace(".", "") for r in TRAIN]
    word_counts = Counter(w for question in plain for w in question.split())
    assert set(vocabulary) == set(word_counts)
    assert [word_counts[w] for w in vocabulary] == sorted(word_counts.values(), reverse=True)
    assert set(answers) == {r.answer for r in TRAIN}
    targets = answer_targets(TRAIN, answers)
    assert [answers[k] for k in targets] == [r.answer for r in TRAIN]


def test_the_fusion_module_imports_neither_evaluate_nor_train():
    code = (
        "import sys, mmlearn.represent.fusion\n"
        "print(sorted(m for m in sys.modules if m in ('mmlearn.evaluate', 'mmlearn.train')))"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_baseline_beats_the_question_type_prior(trained):
    model, predictions = trained
    # on its training questions it must have learned from the images: four questions share each scene, and the
    # prior is the best any answer can do that ignores the image and the words beyond the question type
    seen = vqa_accuracy([r.answers for r in TRAIN], model.answer_questions(TRAIN))
    seen_prior = vqa_accuracy([r.answers for r in TRAIN], prior_answers(TRAIN, TRAIN))
    assert seen > seen_prior + 0.15, (seen, seen_prior)
    # on new scenes it still beats the prior: by 0.059 and 0.063 with seeds 0 and 1 when this test was sized
    unseen = vqa_accuracy([r.answers for r in TEST], predictions)
    unseen_prior = vqa_accuracy([r.answers for r in TEST], prior_answers(TRAIN, TEST))
    assert unseen > unseen_prior, (unseen, unseen_prior)
    assert set(predictions) <= set(model.answers)


def test_a_saved_model_answers_identically(trained):
    model, predictions = trained
    path = Path(tempfile.mkdtemp(prefix="mmlearn_bowvqa_")) / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(reloaded, BagOfWordsVQA)
    assert reloaded.vocabulary == model.vocabulary and reloaded.answers == model.answers
    assert reloaded.answer_questions(TEST) == predictions
    x = vqa_inputs(TEST, model.vocabulary)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_the_same_seed_gives_the_same_answers():
    small_train, small_test = TRAIN[:200], TEST[:50]
    first, answers1 = vqa_baseline(small_train, small_test, epochs=2, seed=3)
    second, answers2 = vqa_baseline(small_train, small_test, epochs=2, seed=3)
    other, _ = vqa_baseline(small_train, small_test, epochs=2, seed=4)
    x = vqa_inputs(small_test, first.vocabulary)
    assert answers1 == answers2
    np.testing.assert_array_equal(first.predict(x, verbose=0), second.predict(x, verbose=0))
    assert not np.allclose(first.predict(x, verbose=0), other.predict(x, verbose=0))


def test_answers_outside_the_classes_are_counted_and_never_given():
    missing = "3"
    train = [r for r in TRAIN[:300] if r.answer != missing]
    test = TEST[:80]
    model, predictions = vqa_baseline(train, test, epochs=1, seed=0)
    assert missing not in model.answers and missing not in predictions
    n_missing = sum(r.answer == missing for r in test)
    assert n_missing > 0
    assert unseen_answers(test, model.answers) == n_missing


def test_errors_name_the_record_and_what_was_expected():
    with pytest.raises(ValueError, match="test_records: no records"):
        vqa_baseline(TRAIN[:10], [], epochs=1)
    odd = [
        TRAIN[0],
        type("R", (), {"question": "how many?", "answer": "2", "media": np.zeros((32, 32, 3))})(),
    ]
    with pytest.raises(
        ValueError, match=r"records\[1\]: an image of shape \(32, 32, 3\); expected \(64, 64, 3\)"
    ):
        vqa_inputs(odd, question_vocabulary(TRAIN))
    small = [type("R", (), {"question": "how many?", "answer": "2", "media": np.zeros((32, 32, 3))})()]
    with pytest.raises(
        ValueError, match=r"test_records: images of shape \(32, 32, 3\); expected \(64, 64, 3\)"
    ):
        vqa_baseline(TRAIN[:10], small, epochs=1)
    with pytest.raises(ValueError, match=r"train_records\[0\]: has no .media"):
        vqa_baseline(["how many?"], TEST[:1], epochs=1)
    with pytest.raises(ValueError, match="the answer 'purple' is not one of the 2 classes"):
        answer_targets([type("R", (), {"question": "q", "answer": "purple", "media": None})()], ["yes", "no"])

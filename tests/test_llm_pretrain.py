"""Stage 1 (text pretraining) as an installed library: windows hold every token once and in order, padding never
reaches the loss or the accuracy, perplexity equals a NumPy computation, a little training lowers held-out
perplexity, the compiled model survives a safe-mode .keras round trip, and bad input names its parameter."""

import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from mmlearn.llm.model import DecoderLM
from mmlearn.llm.pretrain import (
    MaskedLMLoss,
    MaskedTokenAccuracy,
    compile_for_pretraining,
    lm_dataset,
    lm_rows,
    lm_windows,
    perplexity,
    pretrain_optimizer,
    token_stream,
    warmup_cosine,
)
from mmlearn.llm.tokenizer import BPETokenizer, text_corpus


@pytest.fixture(scope="module")
def data():
    train = text_corpus(400, seed=0)
    seen = set(train)
    heldout = [t for t in text_corpus(200, seed=1) if t not in seen]
    tok = BPETokenizer.train(train, 300)
    return tok, train, heldout


def tiny_lm(vocab_size: int) -> DecoderLM:
    keras.utils.set_random_seed(0)
    return DecoderLM(vocab_size, dim=32, layers=1, num_heads=2, num_kv_heads=1, max_length=32)


@pytest.mark.parametrize("n, window", [(2, 1), (11, 4), (13, 4), (100, 7), (65, 64)])
def test_windows_hold_every_token_once_in_order(n, window):
    stream = np.arange(1, n + 1, dtype=np.int32)
    x, y = lm_windows(stream, window, pad_id=0)
    assert x.shape == y.shape and x.shape[1] == window
    np.testing.assert_array_equal(x.reshape(-1)[: n - 1], stream[:-1])
    np.testing.assert_array_equal(y.reshape(-1)[: n - 1], stream[1:])
    assert (y.reshape(-1)[n - 1 :] == 0).all() and len(y.reshape(-1)) - (n - 1) < window
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])


def test_stream_and_rows_separate_texts_with_end(data):
    tok, train, _ = data
    end = tok.special_tokens["<|end|>"]
    stream = token_stream(train[:5], tok)
    assert tok.decode(stream) == "".join(t + "<|end|>" for t in train[:5])
    x, y = lm_rows(train[:5], tok, 128)
    for text, xr, yr in zip(train[:5], x, y):
        ids = tok.encode(text) + [end]
        np.testing.assert_array_equal(yr[yr != tok.pad_id], ids[1:])
        np.testing.assert_array_equal(xr[: len(ids) - 1], ids[:-1])


def test_dataset_is_a_seeded_permutation():
    x = np.arange(60, dtype=np.int32).reshape(20, 3)
    first = np.concatenate([b[0].numpy() for b in lm_dataset(x, x + 1, 6, seed=5)])
    again = np.concatenate([b[0].numpy() for b in lm_dataset(x, x + 1, 6, seed=5)])
    np.testing.assert_array_equal(first, again)
    assert sorted(first[:, 0]) == list(x[:, 0])
    assert not (first == x).all()


def test_padding_never_counts():
    g = np.random.default_rng(0)
    logits = g.normal(size=(3, 5, 7)).astype(np.float32)
    targets = g.integers(1, 7, (3, 5))
    targets[0, 3:] = 0
    targets[2, 1:] = 0
    real = targets != 0
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, targets[..., None], -1)[..., 0]
    masked = float(MaskedLMLoss(0)(targets, logits))
    np.testing.assert_allclose(masked, nll[real].mean(), rtol=1e-5)
    unmasked = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(targets, logits))
    np.testing.assert_allclose(unmasked, nll.mean(), rtol=1e-5)
    assert abs(masked - unmasked) > 1e-3
    noisy = logits.copy()
    noisy[~real] = 100 * g.normal(size=noisy[~real].shape)
    np.testing.assert_allclose(float(MaskedLMLoss(0)(targets, noisy)), masked, rtol=1e-6)
    acc = MaskedTokenAccuracy(0)
    acc.update_state(targets, noisy)
    np.testing.assert_allclose(float(acc.result()), (logits.argmax(-1) == targets)[real].mean(), rtol=1e-6)


def test_perplexity_equals_numpy(data):
    tok, _, heldout = data
    lm = tiny_lm(tok.vocab_size)
    x, y = lm_windows(token_stream(heldout[:30], tok), 16, tok.pad_id, lm.max_length)
    logits = np.asarray(lm(x), np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, y[..., None], -1)[..., 0]
    expected = np.exp(nll[y != tok.pad_id].mean())
    np.testing.assert_allclose(perplexity(lm, x, y, tok.pad_id, batch_size=5), expected, rtol=1e-5)
    assert abs(expected - tok.vocab_size) < 0.05 * tok.vocab_size  # untrained: about uniform


def test_training_lowers_heldout_perplexity_and_round_trips(data, tmp_path):
    tok, train, heldout = data
    lm = tiny_lm(tok.vocab_size)
    x, y = lm_windows(token_stream(train, tok), 32, tok.pad_id, lm.max_length)
    hx, hy = lm_windows(token_stream(heldout, tok), 32, tok.pad_id, lm.max_length)
    before = perplexity(lm, hx, hy, tok.pad_id)
    steps = 2 * -(-len(x) // 16)
    compile_for_pretraining(lm, tok.pad_id, steps, peak_learning_rate=1e-2)
    lm.fit(lm_dataset(x, y, 16, seed=0), epochs=2, shuffle=False, verbose=0)
    after = perplexity(lm, hx, hy, tok.pad_id)
    assert after < before / 3, (before, after)
    lm.save(tmp_path / "lm.keras")
    loaded = keras.saving.load_model(tmp_path / "lm.keras", safe_mode=True)
    np.testing.assert_array_equal(np.asarray(loaded(hx[:3])), np.asarray(lm(hx[:3])))
    assert isinstance(loaded.loss, MaskedLMLoss) and loaded.loss.pad_id == tok.pad_id


def test_bad_input_names_the_parameter(data):
    tok, train, _ = data
    lm = tiny_lm(tok.vocab_size)
    stream = np.arange(10)
    cases = [
        (lambda: token_stream([], tok), "texts"),
        (lambda: lm_rows([], tok, 8), "texts"),
        (lambda: lm_rows(train[:3], tok, 2), "window=2"),
        (lambda: lm_windows(stream, 0, 0), "window"),
        (lambda: lm_windows(stream, 2.5, 0), "window"),
        (lambda: lm_windows(stream, 64, 0, max_length=lm.max_length), "max_length=32"),
        (lambda: lm_windows(stream[:1], 4, 0), "stream"),
        (lambda: lm_dataset(np.zeros((4, 3)), np.zeros((4, 2))), "same shape"),
        (lambda: lm_dataset(np.zeros((4, 3)), np.zeros((4, 3)), batch_size=0), "batch_size"),
        (lambda: warmup_cosine(0), "total_steps"),
        (lambda: pretrain_optimizer(10, warmup_steps=12), "warmup_steps"),
        (lambda: perplexity(lm, np.zeros((1, 40), int), np.zeros((1, 40), int), 0), "max_length=32"),
        (lambda: perplexity(lm, np.zeros((0, 4), int), np.zeros((0, 4), int), 0), "non-empty"),
        (lambda: perplexity(lm, np.zeros((1, 4), int), np.zeros((1, 4), int), 0), "padding"),
    ]
    for call, words in cases:
        with pytest.raises(ValueError, match=re.escape(words)):
            call()

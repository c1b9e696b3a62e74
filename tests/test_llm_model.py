"""The decoder-only language model as an installed library: safe-mode .keras round trip in a fresh model,
cached generation equal to re-running the prefix, and errors that name the bad argument."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from mmlearn.llm.model import DecoderLM, generate, place_features


def small_lm(kv_heads: int = 2, max_length: int = 32) -> DecoderLM:
    keras.utils.set_random_seed(0)
    return DecoderLM(
        vocab_size=40, dim=32, layers=2, num_heads=4, num_kv_heads=kv_heads, max_length=max_length
    )


def test_keras_file_round_trip_in_safe_mode(tmp_path):
    lm = small_lm()
    ids = np.random.default_rng(1).integers(0, 40, (2, 9))
    before = generate(lm, ids, 6, temperature=0.9, top_p=0.9, seed=7).tokens
    logits = np.asarray(lm(ids))
    lm.save(tmp_path / "lm.keras")
    loaded = keras.saving.load_model(tmp_path / "lm.keras", safe_mode=True)
    assert isinstance(loaded, DecoderLM)
    np.testing.assert_array_equal(np.asarray(loaded(ids)), logits)
    assert generate(loaded, ids, 6, temperature=0.9, top_p=0.9, seed=7).tokens == before


@pytest.mark.parametrize("kv_heads", [1, 4])
def test_cached_generation_equals_rerunning_the_prefix(kv_heads):
    lm = small_lm(kv_heads)
    g = np.random.default_rng(kv_heads)
    prompts = [list(g.integers(1, 40, n)) for n in (2, 11, 5, 8)]
    cached = generate(lm, prompts, 15)
    assert cached.tokens == generate(lm, prompts, 15, use_cache=False).tokens
    assert [len(t) for t in cached.tokens] == [15] * 4
    assert not cached.ended.any()  # no end id: every row ran out of tokens


def test_spliced_features_reach_the_answer():
    lm = small_lm()
    prompt = [[3, 3, 3, 7, 8]]  # three placeholders, then text

    def with_features(scale):
        feats = np.full((1, 3, 32), scale, np.float32)
        return lambda ids: place_features(lm.embed(ids), ids == 3, feats)

    first = generate(lm, prompt, 8, embed_fn=with_features(3.0)).tokens
    assert first == generate(lm, prompt, 8, embed_fn=with_features(3.0)).tokens
    assert first != generate(lm, prompt, 8, embed_fn=with_features(-3.0)).tokens


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_new_tokens": 30}, "max_length=32"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(small_lm(), [[1, 2, 3]], **kwargs)

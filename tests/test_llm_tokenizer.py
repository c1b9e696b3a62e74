"""The byte-level BPE tokenizer of mmlearn.llm.tokenizer as a library: fast trainer against brute force,
exact round trips, and the tokenizer carried inside a subclassed model's .keras file."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmlearn.llm.tokenizer import (
    SPECIAL_TOKENS,
    BPETokenizer,
    merge_pair,
    pair_counts,
    split_chunks,
    text_corpus,
    train_bpe,
)


def brute_force_merges(texts, num_merges):
    "The quadratic reference: recount every pair of every chunk occurrence for each merge."
    chunks = [list(c.encode("utf-8")) for t in texts for c in split_chunks(t)]
    merges = []
    for r in range(num_merges):
        counts = {}
        for ids in chunks:
            pair_counts(ids, counts)
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        chunks = [merge_pair(ids, pair, 256 + r) for ids in chunks]
        merges.append(pair)
    return merges


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train(text_corpus(400, seed=5), vocab_size=420)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="xy z\n🙂ü", max_size=30), max_size=5), st.integers(0, 30))
def test_fast_trainer_equals_brute_force(texts, num_merges):
    assert train_bpe(texts, num_merges)[0] == brute_force_merges(texts, num_merges)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_round_trip_any_text(tok, s):
    assert tok.decode(tok.encode(s)) == s
    assert tok.decode(tok.encode(s, allowed_special="all")) == s


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=6), st.sampled_from(SPECIAL_TOKENS)), max_size=6))
def test_special_tokens_only_when_allowed(tok, parts):
    s = "".join(parts)
    assert all(i < tok.pad_id for i in tok.encode(s))
    assert tok.decode(tok.encode(s)) == s
    assert tok.decode(tok.encode(s, allowed_special="all")) == s


def test_layout_and_batches(tok):
    m = len(tok.merges)
    assert tok.vocab_size == 420 == 256 + m + len(SPECIAL_TOKENS)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(256 + m, 420))
    assert tok.pad_id == 256 + m
    batch = tok.encode_batch(["a red circle", ""], sequence_length=6)
    assert batch.dtype == np.int32 and batch.shape == (2, 6)
    assert (batch[1] == tok.pad_id).all()


def test_json_file_round_trip(tok, tmp_path):
    again = BPETokenizer.load(tok.save(tmp_path / "tokenizer.json"))
    texts = text_corpus(50, seed=9) + ["<|user|><image> naïve 😀"]
    assert again.merges == tok.merges
    assert [again.encode(t, "all") for t in texts] == [tok.encode(t, "all") for t in texts]
    (tmp_path / "broken.json").write_text('{"format": "mmlearn-bpe-1", "merges": ')
    with pytest.raises(ValueError, match=r"broken.json, line 1: not valid JSON"):
        BPETokenizer.load(tmp_path / "broken.json")


@keras.saving.register_keras_serializable(package="mmlearn_tests")
class TinyLanguageModel(keras.Model):
    "A subclassed model that keeps its tokenizer as an attribute, as a language model does."

    def __init__(self, tokenizer, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.embedding = keras.layers.Embedding(vocab_size, 4)

    def call(self, ids):
        return self.embedding(ids)

    def get_config(self):
        tokenizer = keras.saving.serialize_keras_object(self.tokenizer)
        return {**super().get_config(), "tokenizer": tokenizer, "vocab_size": self.vocab_size}

    @classmethod
    def from_config(cls, config):
        config = {**config, "tokenizer": keras.saving.deserialize_keras_object(config["tokenizer"])}
        return cls(**config)


def test_keras_file_carries_the_tokenizer(tok, tmp_path):
    model = TinyLanguageModel(tok, tok.vocab_size)
    ids = tok.encode_batch(["a red circle left of a blue square"])
    model(ids)
    model.save(tmp_path / "tiny.keras")
    loaded = keras.saving.load_model(tmp_path / "tiny.keras", safe_mode=True)
    assert loaded.tokenizer.merges == tok.merges
    assert loaded.tokenizer.special_tokens == tok.special_tokens
    texts = text_corpus(100, seed=11) + ["<|assistant|> 東京 😀"]
    assert [loaded.tokenizer.encode(t, "all") for t in texts] == [tok.encode(t, "all") for t in texts]
    np.testing.assert_array_equal(loaded(ids), model(ids))

"""The oracle's disk cache returns exactly what the oracle computes, and only for the same example."""
import os

import numpy as np
import pytest

from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.judge import oracle_cache, tolerances
from gpt2_conformance.judge.tolerances import reference_with_error as compute
from gpt2_conformance.reference import HParams

HP = HParams(n_vocab=7, n_ctx=5, n_embd=4, n_head=2, n_layer=1)
TOKENS = np.array([[1, 2, 3]])


@pytest.fixture
def computed(monkeypatch, tmp_path):
    """The cache in tmp_path, with a count of the oracle runs that were not read from it."""
    monkeypatch.setenv(oracle_cache.ENV, str(tmp_path))
    calls = []
    monkeypatch.setattr(tolerances, "reference_with_error", lambda *a: calls.append(a) or compute(*a))
    return calls


def test_a_hit_is_bitwise_what_was_computed(computed):
    params = random_params(HP, 0, "large")
    expected = compute(params, TOKENS)
    first = oracle_cache.reference_with_error(params, TOKENS)
    second = oracle_cache.reference_with_error(random_params(HP, 0, "large"), TOKENS.copy())
    assert len(computed) == 1
    for ref64, e32 in (first, second):
        assert np.array_equal(ref64, expected[0]) and e32 == expected[1]


def test_other_weights_or_tokens_miss(computed):
    params = random_params(HP, 0)
    oracle_cache.reference_with_error(params, TOKENS)
    oracle_cache.reference_with_error(params.with_tensor("model/wte", params.tensors["model/wte"] * 2), TOKENS)
    oracle_cache.reference_with_error(params, TOKENS[:, :2])
    assert len(computed) == 3


def test_generated_weights_are_keyed_by_their_recipe_and_others_by_their_bytes(computed):
    generated = random_params(HP, 0)
    with pytest.raises(ValueError, match="read-only"):  # what the recipe names is what the arrays hold
        generated.tensors["model/wte"][0, 0] = 1.0
    copied = generated.astype(np.float64)  # the same bytes, writable: no recipe
    assert generated.origin and copied.origin is None
    assert oracle_cache._params_digest(generated) == oracle_cache._params_digest(random_params(HP, 0))
    before = oracle_cache._params_digest(copied)
    copied.tensors["model/wte"][0, 0] += 1.0
    assert oracle_cache._params_digest(copied) != before
    for params in (generated, copied, generated):
        oracle_cache.reference_with_error(params, TOKENS)
    assert len(computed) == 2


def test_the_same_weights_with_other_heads_miss(computed):
    """Weights drawn from one seed are the same tensors for every n_head dividing n_embd; the logits are not."""
    one_head = random_params(HParams(n_vocab=7, n_ctx=5, n_embd=4, n_head=1, n_layer=1), 0)
    two_heads = random_params(HP, 0)
    assert all(np.array_equal(one_head.tensors[k], v) for k, v in two_heads.tensors.items())
    assert not np.array_equal(oracle_cache.reference_with_error(one_head, TOKENS)[0],
                              oracle_cache.reference_with_error(two_heads, TOKENS)[0])
    assert len(computed) == 2


@pytest.mark.parametrize("damage", [lambda b: b[:50], lambda b: b[:-8] + bytes([b[-8] ^ 1]) + b[-7:]],
                         ids=["cut short", "one bit flipped"])
def test_a_damaged_entry_is_recomputed(computed, tmp_path, damage):
    params = random_params(HP, 0)
    oracle_cache.reference_with_error(params, TOKENS)
    (entry,) = tmp_path.glob("oracle-*/*.arrays")
    entry.write_bytes(damage(entry.read_bytes()))
    ref64, _ = oracle_cache.reference_with_error(params, TOKENS)
    assert len(computed) == 2 and np.array_equal(ref64, compute(params, TOKENS)[0])


def test_an_empty_setting_turns_it_off(computed, monkeypatch, tmp_path):
    monkeypatch.setenv(oracle_cache.ENV, "")
    params = random_params(HP, 0)
    oracle_cache.reference_with_error(params, TOKENS)
    oracle_cache.reference_with_error(params, TOKENS)
    assert len(computed) == 2 and not list(tmp_path.iterdir())


def test_the_tier_error_is_cached_per_dtype(monkeypatch, tmp_path):
    monkeypatch.setenv(oracle_cache.ENV, str(tmp_path))
    calls = []
    compute_tier = tolerances.tier_error
    monkeypatch.setattr(tolerances, "tier_error", lambda *a: calls.append(a[-1]) or compute_tier(*a))
    params = random_params(HP, 0)
    ref64, _ = compute(params, TOKENS)
    first = [oracle_cache.tier_error(params, TOKENS, ref64, d) for d in ("float16", "bfloat16", "float16")]
    assert calls == ["float16", "bfloat16"]
    assert first == [compute_tier(params, TOKENS, ref64, d) for d in ("float16", "bfloat16", "float16")]


def test_golden_weights_are_made_once_and_remade_when_damaged(monkeypatch, tmp_path):
    monkeypatch.setenv(oracle_cache.ENV, str(tmp_path))
    made = []
    tensors = random_params(HP, 0).tensors

    def make():
        made.append(1)
        return tensors

    for _ in range(2):
        read = oracle_cache.golden_weights("v1", "case", make)
        assert read.keys() == tensors.keys() and all(np.array_equal(read[k], tensors[k]) for k in tensors)
    (stored,) = tmp_path.glob("golden-v1-*/case.arrays")
    stored.write_bytes(stored.read_bytes()[:100])
    oracle_cache.golden_weights("v1", "case", make)
    assert len(made) == 2
    oracle_cache.golden_weights("v2", "case", make)  # new golden data: the old is removed
    assert len(made) == 3 and [p.name for p in tmp_path.glob("golden-*")] == [f"golden-v2-arrays{oracle_cache.FORMAT}"]


def test_a_file_renamed_by_a_concurrent_writer_is_not_an_error(computed, monkeypatch, tmp_path):
    params = random_params(HP, 0)
    oracle_cache.reference_with_error(params, TOKENS)
    listed = type(tmp_path).iterdir
    monkeypatch.setattr(type(tmp_path), "iterdir", lambda self: [*listed(self), self / "renamed-meanwhile.tmp"])
    monkeypatch.setattr(oracle_cache, "_checked", set())  # as a new process looks at the directory
    oracle_cache.reference_with_error(params, TOKENS)
    assert len(computed) == 1


def test_a_full_directory_keeps_its_most_recently_used_entries(tmp_path):
    for age, name in enumerate(["newest", "used", "middle", "oldest"]):
        (tmp_path / name).write_bytes(bytes(100))
        os.utime(tmp_path / name, (1e9 - age, 1e9 - age))
    oracle_cache._evict(tmp_path, 400)  # not past the limit: nothing goes
    assert len(list(tmp_path.iterdir())) == 4
    os.utime(tmp_path / "used")  # read just now (_stored)
    oracle_cache._evict(tmp_path, 300)  # past it: the least recently used go, down to half the limit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["used"]

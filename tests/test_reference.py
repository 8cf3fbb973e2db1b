"""The reference follows the official model's definitions."""
import math

import numpy as np
import pytest

from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.reference import HParams, gpt2, model
from gpt2_conformance.reference.params import InvalidInput

HP = HParams(n_vocab=11, n_ctx=9, n_embd=8, n_head=2, n_layer=2)


def test_gelu_is_the_tanh_approximation():
    x = np.linspace(-10, 10, 101)
    expected = [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))) for v in x]
    np.testing.assert_allclose(gpt2.gelu(x), expected, rtol=1e-12, atol=1e-14)  # math vs numpy tanh: ulps


def test_layer_norm_uses_population_variance_and_eps_1e5():
    x = np.array([[1.0, 2.0, 4.0]])
    mean, var = x.mean(), ((x - x.mean()) ** 2).sum() / 3
    np.testing.assert_allclose(gpt2.layer_norm(x, 1.0, 0.0), (x - mean) / np.sqrt(var + 1e-5), rtol=1e-15)


def test_mask_is_aligned_to_the_lower_right_corner():
    # 2 new queries after 3 past keys: query 0 sees keys 0..3, query 1 sees all 5.
    np.testing.assert_array_equal(gpt2.attention_mask(2, 5, np.float64), [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])


def test_masked_scores_are_replaced_by_minus_1e10():
    w = gpt2.mask_attn_weights(np.full((2, 2), 5.0))
    np.testing.assert_array_equal(w, [[5.0, -1e10], [5.0, 5.0]])


def test_past_continues_the_sequence_with_positions_offset():
    p = random_params(HP, 3)
    tokens = np.array([[1, 2, 3, 4, 5, 6, 7], [7, 6, 5, 4, 3, 2, 1]])
    full, present = model(p, tokens)
    a, past = model(p, tokens[:, :3])
    b, more = model(p, tokens[:, 3:], past=past)
    np.testing.assert_allclose(np.concatenate([a, b], axis=1), full, rtol=0, atol=1e-12)
    assert present.shape == (2, HP.n_layer, 2, HP.n_head, 7, HP.head_dim)
    assert more.shape == (2, HP.n_layer, 2, HP.n_head, 4, HP.head_dim)  # the new tokens only, as the official code


def test_head_is_tied_to_wte():
    p = random_params(HP, 4)
    tokens = np.array([[0, 1, 2]])
    h, _ = gpt2.hidden(p, tokens)
    np.testing.assert_array_equal(model(p, tokens)[0], h @ p.tensors["model/wte"].T)


def test_float32_params_compute_in_float32():
    p = random_params(HP, 5).astype(np.float32)
    assert model(p, np.array([[1]]))[0].dtype == np.float32


@pytest.mark.parametrize("tokens,past_len,message", [
    (np.array([[11]]), 0, r"token ids must lie in \[0, 11\); got \[11\]"),
    (np.array([[-1]]), 0, r"token ids must lie in \[0, 11\); got \[-1\]"),
    (np.zeros((1, 10), np.int64), 0, "sequence of 10 tokens after a past of 0 exceeds n_ctx 9"),
    (np.zeros((1, 5), np.int64), 5, "sequence of 5 tokens after a past of 5 exceeds n_ctx 9"),
    (np.zeros((1, 0), np.int64), 0, r"shape \[batch>=1, seq>=1\]"),
    (np.zeros((1, 2)), 0, "integer NumPy array"),
])
def test_bad_inputs_get_clear_errors(tokens, past_len, message):
    p = random_params(HP, 6)
    past = model(p, np.zeros((tokens.shape[0], past_len), np.int64))[1] if past_len else None
    with pytest.raises(InvalidInput, match=message):
        model(p, tokens, past=past)


def test_past_of_the_wrong_shape_is_rejected():
    p = random_params(HP, 6)
    with pytest.raises(InvalidInput, match="past must have shape"):
        model(p, np.array([[1]]), past=np.zeros((1, 2, 2, 3, 1, 4)))


def test_lm_loss_shifts_labels():
    tokens = np.array([[0, 1, 2, 3]])
    uniform = np.zeros((1, 4, 5))
    assert np.isclose(gpt2.lm_loss(uniform, tokens), math.log(5))
    certain = np.full((1, 4, 5), -1e3)
    certain[0, np.arange(3), tokens[0, 1:]] = 0  # position t predicts token t + 1 with certainty
    assert gpt2.lm_loss(certain, tokens) < 1e-12


def test_padding_attends_to_real_tokens_only_at_their_own_positions():
    p = random_params(HP, 6)
    alone, _ = model(p, np.array([[3, 4]]))
    padded, _ = model(p, np.array([[9, 9, 3, 4]]), attention_mask=np.array([[0, 0, 1, 1]]))
    np.testing.assert_allclose(padded[:, 2:], alone, rtol=1e-12, atol=1e-12)


def test_attention_mask_of_the_wrong_shape_is_rejected():
    with pytest.raises(InvalidInput, match=r"attention_mask must be an array of shape \[batch, past \+ seq\] = \[1, 2\]"):
        model(random_params(HP, 6), np.array([[1, 2]]), attention_mask=np.ones((1, 3), np.int64))

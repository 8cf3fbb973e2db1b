"""The reference backward pass is the gradient of reference.gpt2's loss: it agrees with central finite
differences of the forward pass, entry by entry, for every tensor."""
import numpy as np
import pytest

from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.reference import HParams, backward, gpt2, model
from gpt2_conformance.reference.params import InvalidInput

HP = HParams(n_vocab=7, n_ctx=8, n_embd=6, n_head=2, n_layer=2)
# Ids repeat within and across rows; id 6 never appears; positions 6 and 7 are never used.
TOKENS = np.array([[0, 3, 3, 1, 5, 3], [5, 0, 2, 2, 4, 0]])

# Finite-difference step per scale, relative to each tensor's RMS. The five-point stencil errs by
# ~(step * curvature)**4 plus rounding ~1e-16 * loss / (step * gradient). "tiny": the blocks' gradients are
# ~1e-4 of the loss, so rounding needs a long step. "large", "huge": scores grow as qk_gain**2, and where two
# nearly tie the softmax turns within a fraction of a unit, so the step must be short. With these steps the
# worst tensor over seeds 0-9 is 2e-8 (unit), 9e-8 (tiny), 7e-8 (large), 3e-7 (huge).
STEPS = {"unit": 1e-5, "tiny": 3e-3, "large": 3e-6, "huge": 1e-6}


def reference_loss(params, tokens=TOKENS):
    return gpt2.lm_loss(model(params, tokens)[0], tokens)


def finite_differences(loss, value, step):
    """d loss() / d value, entry by entry (five-point central differences), perturbing value in place."""
    h = step * np.sqrt(np.mean(np.square(value)))
    grad = np.empty_like(value)
    for i in np.ndindex(value.shape):
        original = value[i]
        f = {}
        for s in (-2, -1, 1, 2):
            value[i] = original + s * h
            f[s] = loss()
        value[i] = original
        grad[i] = (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * h)
    return grad


def relative_error(analytic, numeric):
    return np.linalg.norm(analytic - numeric) / max(np.linalg.norm(numeric), np.finfo(numeric.dtype).tiny)


@pytest.mark.parametrize("scale", STEPS)
def test_every_gradient_matches_finite_differences(scale):
    params = random_params(HP, seed=0, scale=scale).astype(np.float64)  # a writable copy, ours to perturb
    _, grads = backward.loss_and_grads(params, TOKENS)
    errors = {name: relative_error(grads[name], finite_differences(lambda: reference_loss(params), value, STEPS[scale]))
              for name, value in params.tensors.items()}
    assert max(errors.values()) <= 1e-6, {name: f"{e:.1e}" for name, e in errors.items() if e > 1e-6}


def test_wte_paths_are_the_gradients_of_the_untied_head_and_embedding():
    params = random_params(HP, seed=1)
    head, embedding = backward.wte_grad_paths(params, TOKENS)
    _, grads = backward.loss_and_grads(params, TOKENS)
    np.testing.assert_allclose(head + embedding, grads["model/wte"], rtol=1e-13, atol=1e-16)
    embed_wte, head_wte = params.tensors["model/wte"].copy(), params.tensors["model/wte"].copy()
    untied = params.with_tensor("model/wte", embed_wte)  # holds embed_wte itself: perturbing it perturbs untied

    def untied_loss():
        return gpt2.lm_loss(gpt2.hidden(untied, TOKENS)[0] @ head_wte.T, TOKENS)

    assert relative_error(head, finite_differences(untied_loss, head_wte, STEPS["unit"])) <= 1e-6
    assert relative_error(embedding, finite_differences(untied_loss, embed_wte, STEPS["unit"])) <= 1e-6


def test_an_absent_token_gets_no_embedding_gradient_but_a_head_gradient():
    head, embedding = backward.wte_grad_paths(random_params(HP, seed=2), TOKENS)
    assert 6 not in TOKENS
    assert not embedding[6].any() and embedding[:6].all()
    assert head[6].all()


def test_positions_beyond_the_sequence_get_no_wpe_gradient():
    _, grads = backward.loss_and_grads(random_params(HP, seed=2), TOKENS)
    seq = TOKENS.shape[1]
    assert not grads["model/wpe"][seq:].any()
    # nor does the last position: only its own logits see it, and they predict nothing
    assert not grads["model/wpe"][seq - 1].any() and grads["model/wpe"][: seq - 1].all()


def test_repeated_ids_accumulate_in_the_gather_backward():
    dtable = backward.embedding_backward(np.ones((2, 2, 3)), np.array([[1, 1], [1, 2]]), np.zeros((4, 3)))
    np.testing.assert_array_equal(dtable[:, 0], [0, 3, 1, 0])


def test_masked_scores_get_no_gradient():
    np.testing.assert_array_equal(backward.mask_attn_weights_backward(np.ones((2, 3, 3))), np.tril(np.ones((2, 3, 3))))


def test_the_loss_is_the_reference_loss_to_the_last_bit():
    params = random_params(HP, seed=3)
    loss, _ = backward.loss_and_grads(params, TOKENS)
    assert loss == reference_loss(params)


def test_float32_params_give_float32_gradients_of_every_shape():
    params = random_params(HP, seed=4, dtype=np.float32)
    loss, grads = backward.loss_and_grads(params, TOKENS)
    _, exact = backward.loss_and_grads(params.astype(np.float64), TOKENS)
    assert isinstance(loss, float)
    assert grads.keys() == params.tensors.keys()
    for name, value in params.tensors.items():
        assert grads[name].dtype == np.float32 and grads[name].shape == value.shape, name
        assert relative_error(grads[name], exact[name]) < 1e-5, name  # float32 rounding (~1e-6 here)


@pytest.mark.parametrize("tokens,message", [
    (np.array([[1], [2]]), r"the loss needs seq >= 2 \(position t predicts token t \+ 1\), got tokens of shape \(2, 1\)"),
    (np.array([[1, 7]]), r"token ids must lie in \[0, 7\)"),
    (np.zeros((1, 9), np.int64), "exceeds n_ctx 8"),
])
def test_bad_inputs_get_clear_errors(tokens, message):
    with pytest.raises(InvalidInput, match=message):
        backward.loss_and_grads(random_params(HP, seed=5), tokens)


def test_a_loss_over_some_predictions_has_the_gradient_of_that_loss():
    params = random_params(HP, seed=6).astype(np.float64)  # a writable copy, ours to perturb
    mask = np.array([[1, 1, 0, 0, 1], [0, 1, 1, 0, 0]])  # which predictions (of tokens 1..5) the loss counts

    def masked_loss():
        z = model(params, TOKENS)[0][:, :-1]
        log_probs = z - z.max(axis=-1, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(axis=-1, keepdims=True))
        nll = -np.take_along_axis(log_probs, TOKENS[:, 1:, None], axis=-1)[..., 0]
        return (nll * mask).sum() / mask.sum()

    loss, grads = backward.loss_and_grads(params, TOKENS, mask)
    assert loss == pytest.approx(masked_loss(), rel=1e-14)
    errors = {name: relative_error(grads[name], finite_differences(masked_loss, value, STEPS["unit"]))
              for name, value in params.tensors.items()}
    assert max(errors.values()) <= 1e-6, {name: f"{e:.1e}" for name, e in errors.items() if e > 1e-6}

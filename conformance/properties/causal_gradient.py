import numpy as np

from gpt2_conformance.judge.tolerances import FLOOR_ULPS, UNIT_ROUNDOFF, max_abs_err
from gpt2_conformance.properties import Measurement, prop
from gpt2_conformance.properties.gradients import TRAINING_BOUNDS
from gpt2_conformance.reference import backward


@prop("causal_gradient", needs=("grad",), training=True)
def causal_gradient(ctx, data):
    """The loss of the predictions at positions <= i has no gradient through what only later positions use."""
    case = data.draw(ctx.cases(min_length=2, **TRAINING_BOUNDS), label="case")
    tokens = case.tokens
    i = data.draw(ctx.integers(0, tokens.shape[1] - 2, "i"), label="i")
    ctx.note(case=case, i=i)
    mask = np.zeros((tokens.shape[0], tokens.shape[1] - 1), np.int64)
    mask[:, : i + 1] = 1  # position t predicts token t + 1: tokens after i + 1 are neither input nor label
    params = case.params()
    _, grads = ctx.load(params).loss_and_grads(tokens, mask)
    # Later positions' wpe rows feed only later positions: exactly zero, up to a few ulps of the gradient.
    wpe = grads["model/wpe"]
    wpe_tol = FLOOR_ULPS * UNIT_ROUNDOFF[ctx.dtype] * float(np.abs(wpe).max())
    wpe_check = Measurement(max_abs_err(wpe[i + 1:], np.zeros_like(wpe[i + 1:])), wpe_tol,
                            f"the gradient of wpe rows {i + 1}.. from the loss up to position {i}")
    # A token that appears only after position i reaches the loss through the head alone.
    later = np.setdiff1d(tokens[:, i + 1:], tokens[:, : i + 1])
    if not later.size:
        return wpe_check
    head, _ = backward.wte_grad_paths(params.astype(np.float64), tokens, mask)
    tol = ctx.grad_reference(params, tokens, mask).tolerances["model/wte"]
    wte_check = Measurement(max_abs_err(grads["model/wte"][later], head[later]), tol,
                            f"wte rows of tokens {later[:5].tolist()} (only after position {i}) vs their head path")
    return max(wpe_check, wte_check, key=lambda m: m.err / m.tol if m.tol else (0.0 if m.err == 0 else np.inf))

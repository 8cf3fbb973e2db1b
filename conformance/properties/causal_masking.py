from hypothesis import strategies as st

from gpt2_conformance.judge.tolerances import max_abs_err
from gpt2_conformance.properties import Measurement, prop


def logits_before_and_after_a_future_change(ctx, data, **case_bounds):
    """(logits, logits with every token after position i changed, i, tolerance) for a drawn case."""
    case = data.draw(ctx.cases(min_length=2, **case_bounds), label="case")
    tokens = case.tokens
    i = data.draw(ctx.integers(0, tokens.shape[1] - 2, "i"), label="i")
    # A shift in [1, n_vocab) changes every later token, so the future always differs.
    shift = data.draw(st.integers(1, case.hparams.n_vocab - 1), label="shift")
    changed = tokens.copy()
    changed[:, i + 1:] = (tokens[:, i + 1:] + shift) % case.hparams.n_vocab
    ctx.note(case=case, i=i, shift=shift)
    params = case.params()
    model = ctx.load(params)
    a, _ = model.forward(tokens)
    b, _ = model.forward(changed)
    _, tol = ctx.reference(params, tokens)
    return a, b, i, tol


@prop("causal_masking", core=True, compares_calls=True)
def causal_masking(ctx, data):
    """Replacing tokens after position i leaves the logits at positions <= i unchanged."""
    a, b, i, tol = logits_before_and_after_a_future_change(ctx, data)
    return Measurement(max_abs_err(a[:, : i + 1], b[:, : i + 1]), tol, f"logits[:, :{i + 1}] after changing tokens {i + 1}..")

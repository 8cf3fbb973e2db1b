from hypothesis import strategies as st

from conformance import strategies
from conformance.properties import Measurement, prop
from conformance.tolerances import max_abs_err


@prop("finite_outputs", core=True)
def finite_outputs(ctx, data):
    """With attention scores ~1e4 and beyond the logits are finite and causal masking still holds."""
    case = data.draw(strategies.cases(min_length=2, scales=("huge",)), label="case")
    tokens = case.tokens
    i = data.draw(st.integers(0, tokens.shape[1] - 2), label="i")
    shift = data.draw(st.integers(1, case.hparams.n_vocab - 1), label="shift")
    changed = tokens.copy()
    changed[:, i + 1:] = (tokens[:, i + 1:] + shift) % case.hparams.n_vocab
    ctx.note(case=case, i=i, shift=shift)
    params = case.params()
    model = ctx.load(params)
    a, _ = model.forward(tokens)
    b, _ = model.forward(changed)
    _, tol = ctx.reference(params, tokens)
    # max_abs_err is inf as soon as either side holds a non-finite value anywhere
    err = max(max_abs_err(a[:, : i + 1], b[:, : i + 1]), max_abs_err(a, a), max_abs_err(b, b))
    return Measurement(err, tol, f"finite logits, and logits[:, :{i + 1}] unchanged by tokens {i + 1}..")

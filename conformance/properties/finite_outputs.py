from gpt2_conformance.judge.tolerances import max_abs_err
from gpt2_conformance.properties import Measurement, prop
from gpt2_conformance.properties.causal_masking import logits_before_and_after_a_future_change


@prop("finite_outputs", core=True, compares_calls=True)
def finite_outputs(ctx, data):
    """With attention scores ~1e4 and beyond the logits are finite and causal masking still holds."""
    a, b, i, tol = logits_before_and_after_a_future_change(ctx, data, scales=("huge",))
    # max_abs_err is inf as soon as either side holds a non-finite value anywhere
    err = max(max_abs_err(a[:, : i + 1], b[:, : i + 1]), max_abs_err(a, a), max_abs_err(b, b))
    return Measurement(err, tol, f"finite logits, and logits[:, :{i + 1}] unchanged by tokens {i + 1}..")

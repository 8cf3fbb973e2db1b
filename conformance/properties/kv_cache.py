import numpy as np
from hypothesis import strategies as st

from gpt2_conformance.judge.tolerances import max_abs_err
from gpt2_conformance.properties import Measurement, prop


@prop("kv_cache", needs=("past",), compares_calls=True)
def kv_cache(ctx, data):
    """Feeding tokens in chunks through past gives the logits of one full pass."""
    case = data.draw(ctx.cases(scales=ctx.scales, min_length=2), label="case")
    length = case.tokens.shape[1]
    # Cut points anywhere: first chunks of one token, multi-token chunks after a non-empty past.
    cuts = sorted(data.draw(st.sets(ctx.integers(1, length - 1, "cuts"), min_size=1, max_size=4), label="cuts"))
    ctx.note(case=case, cuts=cuts)
    params = case.params()
    model = ctx.load(params)
    full, _ = model.forward(case.tokens)
    chunks, cache = [], None
    for chunk in np.split(case.tokens, cuts, axis=1):
        logits, cache = model.forward(chunk, past=cache)
        chunks.append(logits)
    _, tol = ctx.reference(params, case.tokens)
    return Measurement(max_abs_err(np.concatenate(chunks, axis=1), full), tol,
                       f"logits fed in chunks split at {cuts} vs one full pass")

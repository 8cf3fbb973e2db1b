import numpy as np
from hypothesis import strategies as st

from gpt2_conformance.cases import strategies
from gpt2_conformance.judge.tolerances import max_abs_err
from gpt2_conformance.properties import Measurement, prop


@prop("tied_head", core=True, needs=("set_wte",), compares_calls=True)
def tied_head(ctx, data):
    """After wte is replaced in the live model, its logits are those of the backend loaded with the new wte."""
    # Compared with the same backend loaded afresh, not with the reference: this property is about the
    # head following the embedding, and a numerical deviation of the body (llama.cpp's fp16 GELU) is
    # reference_logits' to report. A head that kept the old wte errs by O(1); two conforming runs on the
    # same weights differ by at most their two distances from the exact logits, hence 2 * tolerance.
    case = data.draw(ctx.cases(), label="case")
    wte_seed = data.draw(st.integers(0, strategies.MAX_SEED), label="wte_seed")
    ctx.note(case=case, wte_seed=wte_seed)
    params = case.params()
    model = ctx.load(params)
    model.forward(case.tokens)  # a head copied at load time is in use from here on
    wte = params.tensors["model/wte"]
    new_wte = np.random.default_rng(wte_seed).standard_normal(wte.shape) * (wte.std() or 1.0)
    model.set_wte(new_wte)
    logits, _ = model.forward(case.tokens)
    changed = params.with_tensor("model/wte", new_wte)
    fresh, _ = ctx.load(changed).forward(case.tokens)
    _, tol = ctx.reference(changed, case.tokens)
    return Measurement(max_abs_err(logits, fresh), 2 * tol, "logits after set_wte vs the backend loaded with the new wte")

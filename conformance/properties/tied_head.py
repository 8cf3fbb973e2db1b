import numpy as np
from hypothesis import strategies as st

from conformance import strategies
from conformance.properties import Measurement, prop
from conformance.tolerances import max_abs_err


@prop("tied_head", core=True, needs=("set_wte",))
def tied_head(ctx, data):
    """After wte is replaced in the live model, the logits are ln_f(h) @ wte.T with the new wte."""
    case = data.draw(strategies.cases(), label="case")
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
    ref, tol = ctx.reference(changed, case.tokens)
    return Measurement(max_abs_err(logits, ref), tol, "logits after set_wte vs reference with the new wte")

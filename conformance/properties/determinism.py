import numpy as np

from gpt2_conformance.properties import Measurement, prop


@prop("determinism", compares_calls=True)
def determinism(ctx, data):
    """The same input twice gives bitwise-identical logits."""
    case = data.draw(ctx.cases(), label="case")
    ctx.note(case=case)
    model = ctx.load(case.params())
    a, _ = model.forward(case.tokens)
    b, _ = model.forward(case.tokens)
    same = a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8))
    err = 0.0 if same else float(np.nan_to_num(np.abs(a.astype(np.float64) - b), nan=np.inf).max() or np.inf)
    return Measurement(err, 0.0, "two identical calls, bitwise")

from gpt2_conformance.judge.tolerances import max_abs_err
from gpt2_conformance.properties import Measurement, prop


@prop("reference_logits", core=True)
def reference_logits(ctx, data):
    """The logits agree with the float64 reference."""
    case = data.draw(ctx.cases(scales=ctx.scales), label="case")
    ctx.note(case=case)
    params = case.params()
    logits, _ = ctx.load(params).forward(case.tokens)
    ref, tol = ctx.reference(params, case.tokens)
    return Measurement(max_abs_err(logits, ref), tol, "logits vs reference")

from hypothesis import strategies as st

from gpt2_conformance.cases import golden
from gpt2_conformance.judge.tolerances import max_abs_err
from gpt2_conformance.properties import Measurement, prop


@prop("official_logits", core=True)
def official_logits(ctx, data):
    """The logits agree with those of OpenAI's official TensorFlow code on every golden case."""
    # A finite choice: Hypothesis tries each case once, then stops (the profiles allow more examples).
    name = data.draw(st.sampled_from(golden.names()), label="golden_case")
    ctx.note(golden_case=name)
    case = golden.load(name)
    rows = golden.rows(ctx.load(case.params), case, past=ctx.backend.capabilities.past)
    return Measurement(max_abs_err(case.kept(rows), case.logits), golden.tolerance(name, ctx.dtype),
                       f"golden case {name} vs the official logits")

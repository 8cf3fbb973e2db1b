
from gpt2_conformance.judge.tolerances import max_abs_err
from gpt2_conformance.properties import Measurement, prop


@prop("prefix_consistency", compares_calls=True)
def prefix_consistency(ctx, data):
    """The logits of tokens[:k] equal the first k rows of the logits of tokens."""
    case = data.draw(ctx.cases(min_length=2), label="case")
    k = data.draw(ctx.integers(1, case.tokens.shape[1] - 1, "k"), label="k")
    ctx.note(case=case, k=k)
    params = case.params()
    model = ctx.load(params)
    full, _ = model.forward(case.tokens)
    prefix, _ = model.forward(case.tokens[:, :k])
    _, tol = ctx.reference(params, case.tokens)
    return Measurement(max_abs_err(prefix, full[:, :k]), tol, f"logits(tokens[:, :{k}]) vs logits(tokens)[:, :{k}]")

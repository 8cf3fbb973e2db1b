from conformance import strategies
from conformance.properties import Measurement, prop
from reference import gpt2


@prop("lm_loss", core=True)
def lm_loss(ctx, data):
    """The mean next-token cross-entropy (the backend's own loss where it has one) matches the reference's."""
    case = data.draw(strategies.cases(min_length=2), label="case")
    ctx.note(case=case)
    params = case.params()
    loss = ctx.load(params).loss(case.tokens)
    ref, tol = ctx.reference(params, case.tokens)
    # loss = mean(logsumexp(l) - l[label]); both terms move by at most max|d logits|, so 2 tol bounds it.
    return Measurement(abs(loss - float(gpt2.lm_loss(ref, case.tokens))), 2 * tol, "loss vs the float64 reference's loss")

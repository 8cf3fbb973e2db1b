from gpt2_conformance.judge.tolerances import loss_tolerance
from gpt2_conformance.properties import Measurement, prop
from gpt2_conformance.reference import gpt2


@prop("lm_loss", core=True)
def lm_loss(ctx, data):
    """The mean next-token cross-entropy (the backend's own loss where it has one) matches the reference's."""
    case = data.draw(ctx.cases(min_length=2), label="case")
    ctx.note(case=case)
    params = case.params()
    loss = ctx.load(params).loss(case.tokens)
    ref, tol = ctx.reference(params, case.tokens)
    predictions = case.tokens[:, 1:].size
    return Measurement(abs(loss - float(gpt2.lm_loss(ref, case.tokens))),
                       loss_tolerance(tol, case.hparams.n_vocab, ctx.dtype, predictions), "loss vs the float64 reference's loss")

from conformance.properties import prop

# Gradients cost a backward pass of the backend and five of the reference: the training properties draw
# every size class but the full vocabulary's (GPT-2 small's layers, and vocabularies past 4096 entries).
TRAINING_VOCAB = (2, 4096)


@prop("gradients", needs=("grad",), training=True)
def gradients(ctx, data):
    """Every parameter's gradient of the loss (and the loss) matches the float64 reference backward."""
    case = data.draw(ctx.cases(min_length=2, n_vocab=TRAINING_VOCAB), label="case")
    ctx.note(case=case)
    params = case.params()
    loss, grads = ctx.load(params).loss_and_grads(case.tokens)
    return ctx.grad_reference(params, case.tokens).worst(loss, grads)

from gpt2_conformance.properties import prop

# Gradients cost a backward pass of the backend and six of the reference: the training properties draw
# vocabularies up to 4096 entries and contexts up to 512 (the class of long sequences at 512 exactly).
TRAINING_BOUNDS = {"n_vocab": (2, 4096), "n_ctx": (1, 512)}


@prop("gradients", needs=("grad",), training=True)
def gradients(ctx, data):
    """Every parameter's gradient of the loss (and the loss) matches the float64 reference backward."""
    case = data.draw(ctx.cases(min_length=2, **TRAINING_BOUNDS), label="case")
    ctx.note(case=case)
    params = case.params()
    loss, grads = ctx.load(params).loss_and_grads(case.tokens)
    return ctx.grad_reference(params, case.tokens).worst(loss, grads)

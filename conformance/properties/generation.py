import numpy as np
from hypothesis import strategies as st

from gpt2_conformance.properties import Measurement, prop


@prop("generation", core=True)
def generation(ctx, data):
    """Greedy decoding picks the reference's argmax at every step where the reference is decisive."""
    case = data.draw(ctx.cases(min_length=2), label="case")
    prompt_length = data.draw(ctx.integers(1, case.tokens.shape[1] - 1, "prompt_length"), label="prompt_length")
    steps = data.draw(st.integers(1, min(8, case.hparams.n_ctx - prompt_length)), label="steps")
    ctx.note(case=case, prompt_length=prompt_length, steps=steps)
    params = case.params()
    model = ctx.load(params)
    tokens = case.tokens[:, :prompt_length]
    logits, cache = model.forward(tokens)
    for step in range(steps):
        chosen = logits[:, -1].argmax(axis=-1)[:, None]
        tokens = np.concatenate([tokens, chosen], axis=1)
        if step + 1 < steps:  # the backend's own cache path where it has one
            logits, cache = model.forward(chosen, past=cache) if cache is not None else model.forward(tokens)
    # The reference scores the backend's own continuation, so after an honest tie both stay comparable.
    # Each backend logit lies within tol of the reference, so a pick is wrong only when the reference
    # rates it more than 2 tol below its best token.
    ref, tol = ctx.reference(params, tokens)
    predicting = ref[:, prompt_length - 1:-1]
    picked = np.take_along_axis(predicting, tokens[:, prompt_length:, None], axis=-1)[..., 0]
    shortfall = predicting.max(axis=-1) - picked
    return Measurement(float(shortfall.max()), 2 * tol,
                       f"greedy tokens {tokens[:, prompt_length:].tolist()}: reference logit below the reference's best")

"""Known answers of the real GPT-2 124M, checked when --checkpoint supplies those weights.

The weights are recognised by their exact hparams (which, with the shapes Params validates, fix every
tensor's shape); the published greedy continuation itself then checks that they are the real ones.
Their SHA-256 is not known here (the real weights were never on this machine): with them, compute it
as gpt2_conformance.cases.golden.weights_sha256(checkpoints.load(DIR)); the failure message reports it.
"""
import numpy as np

from gpt2_conformance.backends import PUBLISHED
from gpt2_conformance.properties import Measurement, prop

GPT2_124M = PUBLISHED["124M"]
# transformers' GPT-2 integration test (tests/models/gpt2): greedy from "The dog", max_length 20.
PROMPT = [464, 3290]
GREEDY = [373, 1043, 287, 257, 2214, 1474, 262, 16246, 286, 2688, 290, 2688, 27262, 13, 198, 198, 464, 3290]


def weights_are_124m(space):
    """None if the space's fixed weights have GPT-2 124M's shape, else why the known answers cannot run."""
    fixed = space.fixed
    if fixed is None:
        return "needs the real GPT-2 124M weights: --checkpoint DIR"
    label, params = fixed
    if params.hparams != GPT2_124M:
        return f"the weights in {label} are not GPT-2 124M ({params.hparams})"
    return None


def greedy(model, prompt, steps, past=True):
    """Greedy decoding; through past when the backend has it, else recomputing the whole sequence."""
    tokens = list(prompt)
    logits, cache = model.forward(np.array([tokens]))
    for step in range(steps):
        tokens.append(int(logits[0, -1].argmax()))
        if step + 1 < steps:
            if past:
                logits, cache = model.forward(np.array([tokens[-1:]]), past=cache)
            else:
                logits, _ = model.forward(np.array([tokens]))
    return tokens[len(prompt):]


@prop("known_answers", precondition=weights_are_124m)
def known_answers(ctx, data):
    """GPT-2 124M continues [464, 3290] greedily with the published 18 tokens."""
    from gpt2_conformance.cases.golden import weights_sha256

    label, params = ctx.space.fixed
    out = greedy(ctx.load(params), PROMPT, len(GREEDY), past=ctx.backend.capabilities.past)
    ctx.note(weights=label, continuation=out)
    wrong = sum(a != b for a, b in zip(out, GREEDY))
    return Measurement(float(wrong), 0.0, f"{wrong} of {len(GREEDY)} greedy tokens differ from the published "
                                          f"continuation {GREEDY} (weights SHA-256 {weights_sha256(params)})")

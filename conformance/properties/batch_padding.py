import numpy as np
from hypothesis import strategies as st

from gpt2_conformance.judge.tolerances import max_abs_err
from gpt2_conformance.properties import Measurement, prop


@prop("batch_padding", needs=("padding",), compares_calls=True)
def batch_padding(ctx, data):
    """Each sequence of a left- or right-padded batch (with an attention mask, optionally continued
    through past) gets the logits it has alone, at its real positions."""
    # padding bugs need no long sequences: up to 64 tokens, as head_dim 64 and 128 are drawn from
    case = data.draw(ctx.cases(n_ctx=(1, 64)), label="case")
    batch, width = case.tokens.shape
    lengths = data.draw(st.lists(st.integers(1, width), min_size=batch, max_size=batch), label="lengths")
    side = data.draw(st.sampled_from(["left", "right"]), label="side")
    pad = data.draw(st.integers(0, case.hparams.n_vocab - 1), label="pad")  # which id pads must not matter
    cut = data.draw(st.integers(0, width - 1), label="cut")  # 0: one pass, else tokens[:, cut:] after past
    ctx.note(case=case, lengths=lengths, side=side, pad=pad, cut=cut)
    mask = np.array([[1] * n + [0] * (width - n) for n in lengths], dtype=np.int64)
    if side == "left":
        mask = mask[:, ::-1].copy()
    padded = np.where(mask == 1, case.tokens, pad)
    params = case.params()
    model = ctx.load(params)
    if cut:
        first, cache = model.forward(padded[:, :cut], attention_mask=mask[:, :cut])
        rest, _ = model.forward(padded[:, cut:], past=cache, attention_mask=mask)
        logits = np.concatenate([first, rest], axis=1)
    else:
        logits, _ = model.forward(padded, attention_mask=mask)
    worst = None
    for row in range(batch):
        alone = padded[row:row + 1, mask[row] == 1]
        expected, _ = model.forward(alone)
        _, tol = ctx.reference(params, alone)
        m = Measurement(max_abs_err(logits[row, mask[row] == 1], expected[0]), tol,
                        f"sequence {row} ({side}-padded) vs alone")
        if worst is None or m.err * worst.tol > worst.err * m.tol:  # the larger error/tolerance ratio
            worst = m
    return worst

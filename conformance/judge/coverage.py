"""What a property's examples cover: which could have seen a bug, per size class, and where.

An example counts as evidence for its size class only where the property could have seen a bug in it.
The test is cheap and made on the float64 reference: the logits at the last position of each sequence
must move when every earlier token changes, by more than SEES of their size and by more than the
example's float32 tolerance where the property had the oracle compute it (whatever dtype the property
runs in: what an example can show is the example's, not the backend's). Where they do not, nothing that
attention, the positions or the tokens do over the sequence reaches the logits beyond what the
comparison forgives, and no bug there could show: n_embd 1 (every LayerNorm returns its bias, so the
logits ignore the tokens), one token (nothing earlier to attend to), attention held on the last key
alone, a tolerance as large as the logits. docs/cases.md has the measured distributions.
"""
from dataclasses import dataclass, field

import numpy as np

from gpt2_conformance.cases import strategies
from gpt2_conformance.judge import oracle_cache
from gpt2_conformance.reference import gpt2

SEES = 2.0**-10  # under 3.3e-3, the smallest movement of any example that moves at all (docs/cases.md)
SEQ_BINS = (1, 2, 16, 64, 256, 512)  # the coverage grid's rows: sequence lengths from each edge on
WIDTH_BINS = (1, 2, 16, 64, 256)  # and its columns: n_embd


def movement(params, tokens, ref64=None):
    """(max |change|, max |logits|) of the reference's last-position logits when every earlier token changes
    (each to the next id); (0, 0) for one token. ref64: the reference's logits of tokens, where known."""
    if tokens.shape[1] < 2 or params.hparams.n_embd < 2:  # n_embd 1: every LayerNorm returns its bias
        return 0.0, 0.0
    changed = tokens.copy()
    changed[:, :-1] = (tokens[:, :-1] + 1) % params.hparams.n_vocab
    p64 = params.astype(np.float64)
    last = _last_logits(p64, tokens) if ref64 is None else ref64[:, -1]
    return float(np.abs(_last_logits(p64, changed) - last).max()), float(np.abs(last).max())


def _last_logits(params, tokens):
    """The reference's logits at the last position (the head, the costly matmul, for that row alone)."""
    return gpt2.hidden(params, tokens)[0][:, -1] @ params.tensors["model/wte"].T


def sees(case, known=None):
    """Whether a generated case could show a bug to the property that drew it (the movement cached with the
    oracle). known: (params, float64 logits, float32 logits tolerance) of the case's tokens where the
    property had the reference compute them (on the case's weights, or on weights it derived from them);
    else (params, None, None)."""
    params, ref64, tol = known or (case.params(), None, None)
    entry = oracle_cache.memo(params, case.tokens, "moves",
                              lambda: dict(zip(("change", "size"), movement(params, case.tokens, ref64))))
    change = float(entry["change"])
    return change > SEES * float(entry["size"]) and (tol is None or change > tol)


def _bin(value, edges):
    return max(i for i, edge in enumerate(edges) if value >= edge)


@dataclass
class Coverage:
    """Per size class: the examples drawn, those that could see, and the ranges of the latter; and the
    grid of sequence length x width, [observable, examples] per cell."""

    classes: dict = field(default_factory=dict)
    grid: list = field(default_factory=lambda: [[[0, 0] for _ in WIDTH_BINS] for _ in SEQ_BINS])

    def add(self, case, observable):
        c = self.classes.setdefault(case.size_class, {"examples": 0, "observable": 0, "ranges": {}})
        c["examples"] += 1
        cell = self.grid[_bin(case.tokens.shape[1], SEQ_BINS)][_bin(case.hparams.n_embd, WIDTH_BINS)]
        cell[1] += 1
        if not observable:
            return
        c["observable"] += 1
        cell[0] += 1
        for name, v in strategies.drawn_sizes(case).items():
            lo, hi = c["ranges"].get(name, (v, v))
            c["ranges"][name] = [min(lo, v), max(hi, v)]

    def unseen(self, required):
        """The required size classes of which no example could see."""
        return [name for name in required if not self.classes.get(name, {}).get("observable")]

"""Hypothesis strategies: GPT-2 configs, generated weights, token batches. All shrink toward small."""
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.weights import SCALES, random_params
from reference.params import HParams

MAX_SEED = 2**32 - 1


@st.composite
def hparams(draw, n_layer=(1, 4), n_head=(1, 8), head_dim=(1, 32), n_vocab=(2, 512), n_ctx=(1, 128)):
    heads = draw(st.integers(*n_head))
    return HParams(
        n_layer=draw(st.integers(*n_layer)),
        n_head=heads,
        n_embd=heads * draw(st.integers(*head_dim)),
        n_vocab=draw(st.integers(*n_vocab)),
        n_ctx=draw(st.integers(*n_ctx)),
    )


def tokens(hp, batch=(1, 4), length=(1, None)):
    """int64 [batch, seq] with 1 <= seq <= n_ctx (or the given bounds)."""
    lo, hi = length
    hi = hp.n_ctx if hi is None else min(hi, hp.n_ctx)
    shape = st.tuples(st.integers(*batch), st.integers(lo, hi))
    return shape.flatmap(lambda s: hnp.arrays(np.int64, s, elements=st.integers(0, hp.n_vocab - 1)))


@dataclass(frozen=True)
class Case:
    """One generated GPT-2 and its input; repr() is the reproducible counterexample."""

    hparams: HParams
    seed: int
    scale: str
    tokens: np.ndarray

    def params(self):
        return random_params(self.hparams, self.seed, self.scale)

    def __repr__(self):
        return (f"Case(hparams={self.hparams}, seed={self.seed}, scale={self.scale!r}, "
                f"tokens=np.array({self.tokens.tolist()}))")


@st.composite
def cases(draw, min_length=1, scales=tuple(SCALES), **hparams_bounds):
    hparams_bounds.setdefault("n_ctx", (min_length, 128))
    hp = draw(hparams(**hparams_bounds))
    return Case(
        hparams=hp,
        seed=draw(st.integers(0, MAX_SEED)),
        scale=draw(st.sampled_from(scales)),
        tokens=draw(tokens(hp, length=(min_length, None))),
    )

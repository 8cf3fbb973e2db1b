"""Hypothesis strategies: GPT-2 configs, generated weights, token batches. All shrink toward small."""
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.weights import SCALES, random_params
from reference.params import HParams

MAX_SEED = 2**32 - 1
MAX_BATCH = 4
MAX_FIXED_LENGTH = 128  # on fixed weights (--checkpoint) sequences stay as long as generated ones at most

_fixed = None  # (label, Params) that every case uses instead of generated weights, when configured
_pool = None  # the architectures cases draw from instead of any (see ARCHITECTURES), when configured

# For backends that compile or export a graph per architecture (Capabilities.compiles_per_architecture):
# at seconds per new architecture (torch.compile 15-45 s, an ONNX export ~5 s, measured) free
# architectures would make a property run take hours, so their cases draw one of these and vary the
# weights, scales and tokens freely. Smallest first, which is where Hypothesis shrinks to. Between them:
# one and several heads and layers, head_dim 1 excluded (llama.cpp declines it), odd sizes, and the
# largest the free strategy draws.
ARCHITECTURES = (
    HParams(n_vocab=11, n_ctx=8, n_embd=8, n_head=2, n_layer=1),
    HParams(n_vocab=53, n_ctx=32, n_embd=12, n_head=1, n_layer=2),
    HParams(n_vocab=97, n_ctx=40, n_embd=48, n_head=6, n_layer=3),
    HParams(n_vocab=512, n_ctx=128, n_embd=256, n_head=8, n_layer=4),
)


def use_weights(params, label=None):
    """From now on every case runs on these weights and draws only its tokens (the --checkpoint mode);
    None goes back to generated weights."""
    global _fixed
    _fixed = None if params is None else (label, params)


def use_checkpoint(path):
    """use_weights with an official or Hugging Face checkpoint directory (InvalidParams if it is not one)."""
    from conformance import checkpoints

    use_weights(checkpoints.load(path), str(path))


def use_architectures(pool):
    """From now on cases draw their architecture from pool (None: any architecture)."""
    global _pool
    _pool = None if pool is None else tuple(pool)


def fixed_weights():
    """(label, Params) configured by use_weights, or None when weights are generated."""
    return _fixed


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


def tokens(hp, batch=(1, MAX_BATCH), length=(1, None)):
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


@dataclass(frozen=True)
class FixedCase:
    """A token batch for the configured fixed weights; repr() names the weights."""

    weights: str
    tokens: np.ndarray

    @property
    def hparams(self):
        return _fixed[1].hparams

    def params(self):
        return _fixed[1]

    def __repr__(self):
        return f"FixedCase(weights={self.weights!r}, tokens=np.array({self.tokens.tolist()}))"


@st.composite
def cases(draw, min_length=1, scales=tuple(SCALES), **hparams_bounds):
    if _fixed is not None:
        label, params = _fixed
        return FixedCase(label, draw(tokens(params.hparams, length=(min_length, MAX_FIXED_LENGTH))))
    hparams_bounds.setdefault("n_ctx", (min_length, 128))
    hp = draw(hparams(**hparams_bounds) if _pool is None else st.sampled_from(_within(_pool, hparams_bounds)))
    return Case(
        hparams=hp,
        seed=draw(st.integers(0, MAX_SEED)),
        scale=draw(st.sampled_from(scales)),
        tokens=draw(tokens(hp, length=(min_length, None))),
    )


def _within(pool, bounds):
    """The architectures of pool within the bounds that hparams() would draw from."""
    fits = [hp for hp in pool if all(lo <= getattr(hp, k) <= hi for k, (lo, hi) in bounds.items())]
    if not fits:
        raise ValueError(f"no architecture of the pool lies within {bounds}")
    return fits

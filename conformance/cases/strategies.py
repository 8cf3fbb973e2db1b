"""Hypothesis strategies: GPT-2 configs, generated weights, token batches. All shrink toward small.

Where cases come from is passed explicitly as a Space: the size classes to draw from, the backend's
declared Scope (cases never leave it), or fixed weights (--checkpoint), on which only tokens are drawn.
"""
import zlib
from dataclasses import dataclass, field, replace

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gpt2_conformance.backends.protocol import Scope
from gpt2_conformance.cases.weights import SCALES, random_params
from gpt2_conformance.reference.params import HParams

MAX_SEED = 2**32 - 1
MAX_FIXED_LENGTH = 128  # on fixed weights (--checkpoint) sequences stay as long as generated ones at most


@dataclass(frozen=True)
class Size:
    """One size class of cases: inclusive ranges of each hparam, the batch, and the sequence length
    (min_seq to max_seq; max_seq None: up to n_ctx). `weight` is its share of the draws; the dimensions
    named in `top` (and "seq" for the sequence length) are drawn from the top of their range down, since
    reaching there is what the class is for (Hypothesis otherwise favours small integers). The properties
    in `always_for` draw at least one example of it, whatever its share."""

    name: str
    n_layer: tuple
    n_head: tuple
    head_dim: tuple
    n_vocab: tuple
    n_ctx: tuple
    batch: tuple
    max_seq: int | None = None
    min_seq: int = 1
    weight: int = 1
    top: tuple = ()
    always_for: tuple = ()

    @classmethod
    def of(cls, name, hp, batch=(1, 4), max_seq=None, weight=1):
        """The size class of exactly one architecture."""
        return cls(name, n_layer=(hp.n_layer,) * 2, n_head=(hp.n_head,) * 2, head_dim=(hp.head_dim,) * 2,
                   n_vocab=(hp.n_vocab,) * 2, n_ctx=(hp.n_ctx,) * 2, batch=batch, max_seq=max_seq, weight=weight)

    def within(self, scope, min_length=1, **bounds):
        """This size class cut to the scope, the property's bounds and min_length; None if nothing is left."""
        min_length = max(min_length, self.min_seq)
        limits = {"n_layer": (1, scope.max_n_layer), "n_head": (1, scope.max_n_head),
                  "head_dim": (scope.min_head_dim, scope.max_head_dim), "n_vocab": (1, scope.max_n_vocab),
                  "n_ctx": (min_length, scope.max_n_ctx), "batch": (1, scope.max_batch)}
        cut = {}
        for name, (lo, hi) in limits.items():
            lo, hi = max(lo, getattr(self, name)[0]), min(x for x in (hi, getattr(self, name)[1]) if x is not None)
            if name in bounds:
                lo, hi = max(lo, bounds[name][0]), min(hi, bounds[name][1])
            if lo > hi:
                return None
            cut[name] = (lo, hi)
        if self.max_seq is not None and self.max_seq < min_length:
            return None
        return replace(self, **cut)

    def draw(self, name, lo, hi, spread=0):
        """An integer of [lo, hi]: from the top down for the dimensions in `top`; else, with a spread, from a
        point of the range that the spread picks, onwards and around (so that the first, simplest example
        of each search lies elsewhere in the range); else from lo up."""
        if name in self.top:
            return st.integers(0, hi - lo).map(lambda k: hi - k)
        return integers(lo, hi, spread, name)

    def hparams(self, spread=0):
        def ints(name):
            return self.draw(name, *getattr(self, name), spread)

        return st.builds(lambda n_layer, n_head, head_dim, n_vocab, n_ctx: HParams(
            n_vocab=n_vocab, n_ctx=n_ctx, n_embd=n_head * head_dim, n_head=n_head, n_layer=n_layer),
            ints("n_layer"), ints("n_head"), ints("head_dim"), ints("n_vocab"), ints("n_ctx"))


GPT2_SMALL_LAYER = HParams(n_vocab=50257, n_ctx=1024, n_embd=768, n_head=12, n_layer=1)

# Most examples are small: fast, and where Hypothesis shrinks to (its tiny corners found a real bug:
# torch's LayerNorm of width 1). The other classes reach GPT-2's real dimensions, where real kernels take
# other code paths (head_dim 64 specialisations: flash-attention#2623; SDPA and flash tiles and
# long-sequence blocking up to n_ctx 1024; the 50257-entry vocabulary, which no power of two divides;
# depth; batch), each together with the others wide and long enough for a bug in it to show: at least
# 2 heads, n_embd >= 8 and sequences >= 16 (n_embd 1 makes every LayerNorm return its bias, so the
# logits ignore the tokens; one token makes attention a softmax over one key). Small vocabularies keep the
# long, wide classes cheap: the head is the costly matmul. docs/cases.md has the table and the costs.
SIZES = (
    Size("small", n_layer=(1, 4), n_head=(1, 8), head_dim=(1, 32), n_vocab=(2, 512), n_ctx=(1, 128), batch=(1, 4),
         weight=120),
    Size("head_dim 64", n_layer=(1, 2), n_head=(1, 2), head_dim=(64, 64), n_vocab=(2, 512), n_ctx=(64, 1024),
         batch=(1, 2), min_seq=64, weight=3),
    Size("head_dim 128", n_layer=(1, 1), n_head=(1, 2), head_dim=(128, 128), n_vocab=(2, 512), n_ctx=(64, 1024),
         batch=(1, 2), min_seq=64, weight=2),
    Size("long sequences", n_layer=(1, 2), n_head=(2, 4), head_dim=(8, 12), n_vocab=(2, 256), n_ctx=(512, 1024),
         batch=(1, 2), min_seq=512, weight=3, top=("n_ctx",)),
    Size("large vocabularies", n_layer=(1, 2), n_head=(2, 4), head_dim=(4, 16), n_vocab=(513, 50257), n_ctx=(16, 64),
         batch=(1, 2), min_seq=16, weight=3, top=("n_vocab",)),
    Size("deep", n_layer=(5, 12), n_head=(2, 4), head_dim=(4, 8), n_vocab=(2, 64), n_ctx=(16, 64), batch=(1, 2),
         min_seq=16, weight=2, top=("n_layer",)),
    Size("large batches", n_layer=(1, 2), n_head=(2, 4), head_dim=(4, 8), n_vocab=(2, 64), n_ctx=(16, 64),
         batch=(5, 8), min_seq=16, weight=2, top=("batch",)),
    # seconds an example at long sequences (docs/cases.md): searched on its own in the properties of
    # always_for only, never drawn among the small class
    Size("GPT-2 small's layer", n_layer=(1, 1), n_head=(12, 12), head_dim=(64, 64), n_vocab=(2, 512),
         n_ctx=(1024, 1024), batch=(1, 1), min_seq=64, weight=0, always_for=("reference_logits", "kv_cache")),
)

# For backends that compile or export a graph per architecture (Capabilities.compiles_per_architecture):
# at seconds per new architecture (docs/cases.md) free architectures would make a property run take
# hours, so their cases draw one of these and vary the weights, scales and tokens freely. Smallest first,
# which is where Hypothesis shrinks to. Between them: one and several heads and layers, odd sizes, the
# largest the small size class draws, head_dim 64 over long sequences, and one layer of GPT-2 small.
ARCHITECTURES = (
    Size.of("2 heads of 4", HParams(n_vocab=11, n_ctx=8, n_embd=8, n_head=2, n_layer=1), weight=6),
    Size.of("one head of 12, 2 layers", HParams(n_vocab=53, n_ctx=32, n_embd=12, n_head=1, n_layer=2), weight=6),
    Size.of("6 heads of 8, 3 layers", HParams(n_vocab=97, n_ctx=40, n_embd=48, n_head=6, n_layer=3), weight=6),
    Size.of("8 heads of 32, 4 layers", HParams(n_vocab=512, n_ctx=128, n_embd=256, n_head=8, n_layer=4), weight=4),
    replace(Size.of("head_dim 64, n_ctx 1024", HParams(n_vocab=300, n_ctx=1024, n_embd=128, n_head=2, n_layer=1),
                    batch=(1, 2), weight=2), min_seq=64),
    replace(Size.of("GPT-2 small's layer", GPT2_SMALL_LAYER, batch=(1, 1), max_seq=64, weight=1), min_seq=16),
)


@dataclass(frozen=True)
class Space:
    """Where a property's cases come from: `sizes` to draw from inside the backend's `scope`, or `fixed`
    weights ((label, Params): only tokens are drawn). A `spread` (strata gives each size class searched
    on its own one) moves the simplest example away from each range's end (Size.draw) and lays a random
    pattern under the tokens: a search of one or two examples would otherwise draw the same corner for
    every property (the smallest widths, seed 0, one token repeated)."""

    sizes: tuple = SIZES
    scope: Scope = Scope()
    fixed: tuple | None = field(default=None, compare=False)
    spread: int = 0

    @classmethod
    def for_backend(cls, capabilities, fixed=None):
        return cls(ARCHITECTURES if capabilities.compiles_per_architecture else SIZES, capabilities.scope, fixed)


@dataclass(frozen=True)
class Case:
    """One generated GPT-2 and its input; repr() is the reproducible counterexample."""

    hparams: HParams
    seed: int
    scale: str
    tokens: np.ndarray
    size_class: str = field(default="", repr=False, compare=False)  # the name of the Size it was drawn from

    def params(self):
        return random_params(self.hparams, self.seed, self.scale)

    def __repr__(self):
        return (f"Case(hparams={self.hparams}, seed={self.seed}, scale={self.scale!r}, "
                f"tokens=np.array({self.tokens.tolist()}))")


@dataclass(frozen=True)
class FixedCase:
    """A token batch for fixed weights; repr() names the weights."""

    weights: str  # the checkpoint directory
    tokens: np.ndarray
    fixed_params: object = field(repr=False, compare=False, default=None, metadata={"saved": False})

    @property
    def hparams(self):
        return self.params().hparams

    def params(self):
        if self.fixed_params is None:  # replayed from a file, which names the weights by their directory
            from gpt2_conformance.cases import checkpoints

            object.__setattr__(self, "fixed_params", checkpoints.load(self.weights))
        return self.fixed_params

    def __repr__(self):
        return f"FixedCase(weights={self.weights!r}, tokens=np.array({self.tokens.tolist()}))"


class NoSizeClass(ValueError):
    """No size class of a space lies within a property's bounds and the backend's scope."""


def strata(space, max_examples, property_id=None):
    """[(Space, examples)]: a property's examples split so that each size class whose share (its weight)
    of max_examples comes to one example or more gets that share, drawn from it alone. A search of mixed
    draws would leave it to chance (Hypothesis draws in clusters of alike examples, docs/cases.md): so each
    property of a certifying run reaches each of GPT-2's real dimensions (GPT-2 small's own layers, seconds
    an example, in the properties of its `always_for` at least). The first stratum draws the rest from the
    other classes."""
    if space.fixed is not None:
        return [(space, max_examples)]
    sizes = [s for s in space.sizes if s.within(space.scope) is not None]  # as cases() draws them
    total = sum(s.weight for s in sizes)
    own = [(s, max(round(max_examples * s.weight / total), property_id in s.always_for)) for s in sizes[1:]]
    own = [(s, n) for s, n in own if n >= 1]
    rest = max_examples - sum(n for _, n in own)
    if rest < 1:
        return [(space, max_examples)]
    mixed = tuple(s for s in sizes if all(s is not o for o, _ in own))
    return [(replace(space, sizes=mixed), rest)] + [(replace(space, sizes=(s,)), n) for s, n in own]


def cases(space, min_length=1, scales=tuple(SCALES), **bounds):
    """A Case (or FixedCase) of `space` with at least min_length tokens; bounds, such as n_ctx=(1, 32),
    narrow the size classes (a class they exclude is not drawn)."""
    if space.fixed is not None:
        label, params = space.fixed
        hp = params.hparams
        return tokens(hp, batch=(1, min(4, space.scope.max_batch or 4)), length=(min_length, MAX_FIXED_LENGTH)).map(
            lambda t: FixedCase(label, t, params))
    sizes = [s for s in (size.within(space.scope, min_length, **bounds) for size in space.sizes) if s is not None]
    if not sizes:
        raise NoSizeClass(f"no size class lies within {bounds} and the scope {space.scope}")
    # Repeated entries give each class its weight; the first (the smallest) is where Hypothesis shrinks to.
    size = st.sampled_from([s for s in sizes for _ in range(s.weight)] or sizes)  # a class of weight 0 alone
    spread = space.spread
    seeds = st.integers(0, MAX_SEED).map(lambda k: (k + spread) % (MAX_SEED + 1))
    scales = scales[spread % len(scales):] + scales[:spread % len(scales)]
    return size.flatmap(lambda s: s.hparams(spread).flatmap(lambda hp: st.builds(
        Case, st.just(hp), seeds, st.sampled_from(scales),
        tokens(hp, batch=s.batch, length=(max(min_length, s.min_seq), s.max_seq), size=s, spread=spread),
        st.just(s.name))))


def tokens(hp, batch=(1, 4), length=(1, None), size=None, spread=0):
    """int64 [batch, seq] with 1 <= seq <= n_ctx (or the given bounds), its shape drawn as `size` says;
    with a spread, drawn as offsets to a random pattern of ids that the spread seeds."""
    lo, hi = length
    hi = hp.n_ctx if hi is None else min(hi, hp.n_ctx)
    size = size or Size("", *(None,) * 6)
    shape = st.tuples(size.draw("batch", *batch, spread), size.draw("seq", lo, hi, spread))
    ids = shape.flatmap(lambda s: hnp.arrays(np.int64, s, elements=st.integers(0, hp.n_vocab - 1)))
    if not spread:
        return ids
    return ids.map(lambda t: (t + np.random.default_rng(spread).integers(0, hp.n_vocab, t.shape)) % hp.n_vocab)


def integers(lo, hi, spread=0, name=""):
    """An integer of [lo, hi], from lo up; with a spread, from a point of the range that the spread and the
    name pick, onwards and around (shrinking goes there too)."""
    if not spread or lo == hi:
        return st.integers(lo, hi)
    start = zlib.crc32(f"{spread} {name}".encode()) % (hi - lo + 1)
    return st.integers(0, hi - lo).map(lambda k: lo + (start + k) % (hi - lo + 1))


def drawn_sizes(case):
    """{dimension: value} of a drawn case, for the certificate's record of the ranges drawn."""
    hp, (batch, seq) = case.hparams, case.tokens.shape
    return {"n_vocab": hp.n_vocab, "n_ctx": hp.n_ctx, "n_embd": hp.n_embd, "n_head": hp.n_head,
            "head_dim": hp.head_dim, "n_layer": hp.n_layer, "batch": batch, "seq": seq}


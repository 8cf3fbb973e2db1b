"""Generated GPT-2 weights: a seed and a named scale regime determine every tensor."""
import zlib
from collections import OrderedDict

import numpy as np

from gpt2_conformance.reference.params import HParams, Params, param_shapes

# embed: std of wte and wpe. qk_gain: multiplies the query and key columns of c_attn, so
# attention scores grow as qk_gain**2 * sqrt(head_dim).
SCALES = {
    "unit": {"embed": 1.0, "qk_gain": 1.0},
    # Hidden-state variance ~1e-6 at the first LayerNorm, below eps 1e-5: the eps value shows.
    "tiny": {"embed": 1e-3, "qk_gain": 1.0},
    # Attention scores thousands apart: softmax is nearly hard and a leaky mask constant shows.
    "large": {"embed": 1.0, "qk_gain": 30.0},
    # Scores around 1e4 and beyond: a -1e4 mask constant no longer masks.
    "huge": {"embed": 1.0, "qk_gain": 100.0},
}


class _Recent:
    """The most recently used values, up to `limit` bytes of them (a larger one is not kept)."""

    def __init__(self, limit):
        self.limit, self.values, self.nbytes = limit, OrderedDict(), 0

    def get(self, key):
        if key in self.values:
            self.values.move_to_end(key)
            return self.values[key][0]
        return None

    def put(self, key, value, nbytes):
        if key in self.values:
            self.nbytes -= self.values.pop(key)[1]
        if nbytes <= self.limit:
            self.values[key], self.nbytes = (value, nbytes), self.nbytes + nbytes
        while self.nbytes > self.limit:
            self.nbytes -= self.values.popitem(last=False)[1][1]


_recent = _Recent(64 * 2**20)  # a search draws the same weights again as it mutates and shrinks its examples


def random_params(hparams: HParams, seed: int, scale: str = "unit", dtype=np.float64) -> Params:
    """Canonical params, each tensor drawn from a PCG64 stream of its own, keyed by seed and name; read-only
    (Params.origin names them), and the same object for the same arguments while it is among the most recent.

    Own streams make shrinking local: a smaller n_layer leaves the remaining layers as they were, and a
    smaller n_vocab or n_ctx keeps the leading rows of wte and wpe, so Hypothesis can shrink each
    dimension without re-rolling every weight (and a failure that needs one weight survives it).
    """
    key = (hparams, seed, scale, np.dtype(dtype).str)
    params = _recent.get(key)
    if params is None:
        params = _generated(hparams, seed, scale, dtype)
        _recent.put(key, params, sum(value.nbytes for value in params.tensors.values()))
    return params


def _generated(hparams, seed, scale, dtype):
    s = SCALES[scale]
    tensors = {}
    for name, shape in param_shapes(hparams).items():
        value = np.random.default_rng([seed, zlib.crc32(name.encode())]).standard_normal(shape)
        leaf = name.rsplit("/", 2)[-2:]
        # in place: GPT-2 small's wte is 39M values, and a temporary array per step cost a third of the time
        if name in ("model/wte", "model/wpe"):
            value *= s["embed"]
        elif leaf[-1] == "g":
            value *= 0.2
            value += 1
        elif leaf[-1] == "b":
            value *= 0.1
        else:  # a Conv1D weight [1, nx, nf]: unit-variance outputs for unit-variance inputs
            value /= np.sqrt(shape[1])
            if leaf[0] == "c_attn":
                value[..., : 2 * hparams.n_embd] *= s["qk_gain"]
            elif leaf[0] == "c_fc":
                value *= 2.0  # GELU inputs out to |x| ~ 8, where approximations of it differ most
        tensors[name] = value.astype(dtype, copy=False)
        tensors[name].flags.writeable = False  # the recipe below names these bytes only while nothing writes them
    params = Params(hparams, tensors)
    object.__setattr__(params, "origin", f"random_params({hparams!r}, {seed}, {scale!r}, {np.dtype(dtype).str})")
    return params

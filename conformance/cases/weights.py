"""Generated GPT-2 weights: a seed and a named scale regime determine every tensor."""
import zlib

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


def random_params(hparams: HParams, seed: int, scale: str = "unit", dtype=np.float64) -> Params:
    """Canonical params, each tensor drawn from a PCG64 stream of its own, keyed by seed and name.

    Own streams make shrinking local: a smaller n_layer leaves the remaining layers as they were, and a
    smaller n_vocab or n_ctx keeps the leading rows of wte and wpe, so Hypothesis can shrink each
    dimension without re-rolling every weight (and a failure that needs one weight survives it).
    """
    s = SCALES[scale]
    tensors = {}
    for name, shape in param_shapes(hparams).items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        leaf = name.rsplit("/", 2)[-2:]
        if name in ("model/wte", "model/wpe"):
            value = s["embed"] * rng.standard_normal(shape)
        elif leaf[-1] == "g":
            value = 1 + 0.2 * rng.standard_normal(shape)
        elif leaf[-1] == "b":
            value = 0.1 * rng.standard_normal(shape)
        else:  # a Conv1D weight [1, nx, nf]: unit-variance outputs for unit-variance inputs
            value = rng.standard_normal(shape) / np.sqrt(shape[1])
            if leaf[0] == "c_attn":
                value[..., : 2 * hparams.n_embd] *= s["qk_gain"]
            elif leaf[0] == "c_fc":
                value *= 2.0  # GELU inputs out to |x| ~ 8, where approximations of it differ most
        tensors[name] = value.astype(dtype)
    return Params(hparams, tensors)

"""Tightness mutants: a constant rounded in its 4th significant digit, one weight tensor scaled by 1 + 1e-5.

Each moves the logits by about one to a few tolerances, where a real slip lands (a constant typed from
memory, a scale applied twice in a converter): they show how close to a correct implementation the
tolerance still tells a bug apart. docs/systematic.md has what each measures at the ci profile.
"""
import math

import numpy as np

from gpt2_conformance.mutants import Mutant, register
from gpt2_conformance.mutants.catalog import _layer_norm, _mask_attn_weights

# The gross form of each slip is in the catalog of real bugs; these are its mildest form, a probe of how close
# to a correct implementation the suite still tells a bug apart.
SLIP = "a slip one to a few tolerances above a correct float32 implementation"


def _gelu(sqrt_2_over_pi, coefficient):
    def gelu(x):
        a, c = np.asarray(sqrt_2_over_pi, x.dtype), np.asarray(coefficient, x.dtype)
        return 0.5 * x * (1 + np.tanh(a * (x + c * (x * x * x))))

    return gelu


def _scaled(name, relative=1e-5):
    """A converter that scales one tensor by 1 + relative."""
    def convert(params):
        return params.with_tensor(name, params.tensors[name] * (1 + relative)) if name in params.tensors else params

    return convert


register(
    # Every example stays under its tolerance: only the median catches it (docs/systematic.md).
    Mutant("gelu_coefficient_3_digits", "GELU's cubic coefficient rounded to 0.0447 (0.044715)",
           f"{SLIP}; GELU constants wrong in a real port: huggingface/transformers#11514 (coefficients swapped)",
           ("reference_logits",), patches={"gelu": _gelu(math.sqrt(2 / math.pi), 0.0447)}),
    Mutant("attention_scale_4th_digit", "attention scores scaled by 1.0001 / sqrt(head_dim)",
           f"{SLIP}; a rounded attention scale in a real kernel: antirez/h3.c#3 (scaled queries rounded to bfloat16)",
           ("reference_logits",), patches={"mask_attn_weights": lambda w: _mask_attn_weights(w * np.asarray(1.0001, w.dtype))}),
    Mutant("layer_norm_eps_4th_digit", "LayerNorm eps 1.001e-5 instead of 1e-5", SLIP, ("reference_logits",),
           patches={"layer_norm": lambda x, g, b: _layer_norm(x, g, b, eps=1.001e-5)}),
    *(Mutant(f"{name.replace('model/', '').replace('/', '_')}_scaled_1e-5", f"{name} scaled by 1 + 1e-5", SLIP,
             ("reference_logits",), convert=_scaled(name))
      for name in ("model/wpe", "model/h0/ln_1/g", "model/h0/attn/c_attn/w", "model/h0/mlp/c_fc/w")),
)

"""The catalog of mutants for the forward-pass properties."""
import math

import numpy as np

import reference
from conformance.mutants import Mutant, register
from reference import gpt2

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _erf_gelu(x):
    return (0.5 * x * (1 + _erf(x / math.sqrt(2)))).astype(x.dtype)


def _mask_added_1e4(w):
    b = gpt2.attention_mask(w.shape[-2], w.shape[-1], w.dtype)
    return w - np.asarray(1e4, dtype=w.dtype) * (1 - b)


def _head_copied_at_load(m, tokens, past):
    h, present = gpt2.hidden(m.params, tokens, past)
    return h @ m.head.T, present


def _noisy(m, tokens, past):
    logits, present = reference.model(m.params, tokens, past)
    noise = np.random.default_rng(m.calls).standard_normal(logits.shape) * 1e-7 * np.abs(logits).max()
    return logits + noise.astype(logits.dtype), present


_softmax = gpt2.softmax


def _softmax_fp16_at_some_lengths(w):
    n = w.shape[-1]
    if n % 16 == 0 or n > 48:
        with np.errstate(over="ignore", invalid="ignore"):
            return _softmax(w.astype(np.float16)).astype(w.dtype)
    return _softmax(w)


register(
    Mutant("erf_gelu", "exact erf GELU instead of the tanh approximation (max |diff| 4.7e-4)",
           "karpathy/nanoGPT#274", ("reference_logits", "official_logits"), patches={"gelu": _erf_gelu}),
    Mutant("mask_added_1e4", "mask constant -1e4 added instead of -1e10 replacing: leaks when scores differ by ~1e4",
           "huggingface/transformers#15199, fixed by #17306", ("causal_masking",),
           patches={"mask_attn_weights": _mask_added_1e4}),
    Mutant("head_copied_at_load", "output head copied from wte at load time, untied afterwards",
           "karpathy/minGPT (separate lm_head); ggml gpt-2 example memcpy", ("tied_head",), model=_head_copied_at_load),
    Mutant("nondeterministic", "tiny random noise in every call (racy reductions, uninitialised buffers)",
           "suite catalog: determinism", ("determinism",), model=_noisy),
    Mutant("length_dependent", "attention softmax in float16 for key lengths that are multiples of 16 or beyond 48",
           "tile-size and threshold bugs in attention kernels (see shared anchors, bug 23)", ("prefix_consistency",),
           patches={"softmax": _softmax_fp16_at_some_lengths}),
)

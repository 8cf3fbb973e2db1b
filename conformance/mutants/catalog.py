"""The catalog of mutants for the forward-pass properties: each the float32 reference with one real bug, cited."""
import itertools
import math
from dataclasses import replace
from unittest import mock

import numpy as np

from gpt2_conformance import reference
from gpt2_conformance.mutants import Mutant, register
from gpt2_conformance.reference import gpt2

_erf = np.vectorize(math.erf, otypes=[np.float64])
_block = gpt2.block
_gelu = gpt2.gelu
_layer_norm = gpt2.layer_norm
_mask_attn_weights = gpt2.mask_attn_weights
_softmax = gpt2.softmax


def _erf_gelu(x):
    return (0.5 * x * (1 + _erf(x / math.sqrt(2)))).astype(x.dtype)


def _relu(x):
    return np.maximum(x, 0)


def _gelu_fp16_table(x):
    """ggml's GELU_FP16: the input rounded to float16 indexes a table of float16 GELU values; beyond
    |x| >= 10 it returns x or 0."""
    table = _gelu(np.clip(x, -10, 10).astype(np.float16).astype(x.dtype)).astype(np.float16).astype(x.dtype)
    return np.where(x <= -10, 0, np.where(x >= 10, x, table)).astype(x.dtype)


def _mask_added_1e4(w):
    b = gpt2.attention_mask(w.shape[-2], w.shape[-1], w.dtype)
    return w - np.asarray(1e4, dtype=w.dtype) * (1 - b)


def _head_copied_at_load(m, tokens, past, *rest):
    h, present = gpt2.hidden(m.params, tokens, past, *rest)
    return h @ m.head.T, present


def _head_at_random_init(m, tokens, past, *rest):
    h, present = gpt2.hidden(m.params, tokens, past, *rest)
    head = np.random.default_rng(0).standard_normal(m.params.tensors["model/wte"].shape) * 0.02  # nn.Embedding-style init
    return h @ head.T.astype(h.dtype), present


def _each_layer(params, convert):
    """params with convert(name, tensor) applied to every tensor of every block."""
    tensors = dict(params.tensors)
    for i in range(params.hparams.n_layer):
        for name, value in params.layer(i).items():
            tensors[f"model/h{i}/{name}"] = convert(name, value)
    return replace(params, tensors=tensors)


def _c_proj_not_transposed(params):
    return _each_layer(params, lambda name, w: w.swapaxes(-1, -2) if name == "attn/c_proj/w" else w)


def _k_q_v_order(params):
    def swap_q_k(name, value):
        if not name.startswith("attn/c_attn/"):
            return value
        q, k, v = np.split(value, 3, axis=-1)
        return np.concatenate([k, q, v], axis=-1)

    return _each_layer(params, swap_q_k)


def _split_heads_interleaved(x, n_head):
    """Head h gets channels h, h + n_head, ... instead of a contiguous slice."""
    *start, m = x.shape
    return x.reshape(*start, m // n_head, n_head).swapaxes(-1, -2).swapaxes(-2, -3)


def _merge_heads_interleaved(x):
    x = x.swapaxes(-2, -3).swapaxes(-1, -2)
    return x.reshape(*x.shape[:-2], -1)


def _layer_norm_eps(eps):
    return lambda x, g, b: _layer_norm(x, g, b, eps=eps)


def _layer_norm_unbiased(x, g, b, eps=1e-5):
    u = x.mean(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # n_embd = 1 divides by zero, as torch.var(unbiased=True) does
        s = np.square(x - u).sum(axis=-1, keepdims=True) / (x.shape[-1] - 1)
        return (x - u) / np.sqrt(s + eps) * g + b


def _scaled_by_n_embd(w):
    """Scores arrive scaled by 1/sqrt(head_dim); rescale them to 1/sqrt(n_embd) = 1/sqrt(n_head * head_dim)."""
    return _mask_attn_weights(w / np.sqrt(np.asarray(w.shape[-3], dtype=w.dtype)))


def _in_layers(select, patches):
    """A mutant model with `patches` applied only inside the blocks for which select(layer, n_layer) holds."""

    def model(m, tokens, past, *rest):
        layers, n_layer = itertools.count(), m.params.hparams.n_layer

        def block(*args, **kwargs):
            layer = next(layers)
            if not select(layer, n_layer):
                return _block(*args, **kwargs)
            with mock.patch.multiple(gpt2, **patches(layer)):
                return _block(*args, **kwargs)

        with mock.patch.object(gpt2, "block", block):
            return reference.model(m.params, tokens, past, *rest)

    return model


def _inverse_layer_scale(layer):
    return {"mask_attn_weights": lambda w: _mask_attn_weights(w / np.asarray(layer + 1, dtype=w.dtype))}


def _noisy(m, tokens, past, *rest):
    logits, present = reference.model(m.params, tokens, past, *rest)
    noise = np.random.default_rng(m.calls).standard_normal(logits.shape) * 1e-7 * np.abs(logits).max()
    return logits + noise.astype(logits.dtype), present


def _softmax_fp16_at_some_lengths(w):
    n = w.shape[-1]
    if n % 16 == 0 or n > 48:
        with np.errstate(over="ignore", invalid="ignore"):
            return _softmax(w.astype(np.float16)).astype(w.dtype)
    return _softmax(w)


register(
    # the activation
    Mutant("erf_gelu", "exact erf GELU instead of the tanh approximation (max |diff| 4.7e-4)",
           "karpathy/nanoGPT#274", ("reference_logits", "official_logits"), patches={"gelu": _erf_gelu}),
    Mutant("activation_default_relu",
           "configured activation ignored: the layer's default (relu) is used instead of GPT-2's gelu_new",
           "huggingface/transformers#13666 (TF GPT-2 ignored activation_function); keras-hub TransformerDecoder "
           "defaults to activation='relu'", ("reference_logits",), patches={"gelu": _relu}),
    Mutant("gelu_fp16_table", "GELU through float16: input rounded to fp16, value read from an fp16 table",
           "ggml GGML_GELU_FP16 (ggml-org/llama.cpp#29252)", ("reference_logits",), patches={"gelu": _gelu_fp16_table}),
    # the mask
    Mutant("mask_added_1e4", "additive -1e4 mask instead of replacing masked scores by -1e10: leaks when scores differ by ~1e4",
           "microsoft/onnxruntime#8549; huggingface/transformers#15199, fixed by #17306", ("causal_masking",),
           patches={"mask_attn_weights": _mask_added_1e4}),
    # the tied head
    Mutant("head_copied_at_load", "output head copied from wte at load time, untied afterwards",
           "karpathy/minGPT (separate lm_head); ggml gpt-2 example memcpy", ("tied_head",), model=_head_copied_at_load),
    Mutant("head_at_random_init", "output head left at its random initialisation: tying never applied after load",
           "vllm-project/vllm#12467; huggingface/transformers#41038", ("reference_logits",), model=_head_at_random_init),
    # the weight layout
    Mutant("c_proj_not_transposed", "attn/c_proj weight not transposed when converting Conv1D [in,out] (square: shapes pass)",
           "AutoGPTQ/AutoGPTQ#95, fixed by #140", ("reference_logits",), convert=_c_proj_not_transposed),
    Mutant("k_q_v_order", "q and k slices of c_attn swapped", "shared anchors, bug 15 (q/k/v slice order)",
           ("reference_logits",), convert=_k_q_v_order),
    Mutant("heads_interleaved", "heads split interleaved (channel c to head c mod n_head) instead of contiguous",
           "shared anchors, bug 15 (head reshape)", ("reference_logits",),
           patches={"split_heads": _split_heads_interleaved, "merge_heads": _merge_heads_interleaved}),
    # LayerNorm
    Mutant("layer_norm_eps_1e-12", "LayerNorm eps 1e-12 instead of 1e-5 (BERT's value)",
           "keras-team/keras-hub#642, #665; nomic-ai/gpt4all#1946", ("reference_logits",),
           patches={"layer_norm": _layer_norm_eps(1e-12)}),
    Mutant("layer_norm_eps_1e-3", "LayerNorm eps 1e-3 instead of 1e-5",
           "keras-team/keras-hub#642 (Keras' LayerNormalization default epsilon=1e-3)", ("reference_logits",),
           patches={"layer_norm": _layer_norm_eps(1e-3)}),
    Mutant("layer_norm_unbiased", "LayerNorm with the unbiased variance (torch.var's default) instead of the population one",
           "shared anchors, bug 16 (LayerNorm statistics)", ("reference_logits",),
           patches={"layer_norm": _layer_norm_unbiased}),
    # attention scores, layers, lengths, calls
    Mutant("scaled_by_n_embd", "attention scaled by 1/sqrt(n_embd) instead of 1/sqrt(head_dim)",
           "shared anchors, table 1 (scale rsqrt(d_head))", ("reference_logits",),
           patches={"mask_attn_weights": _scaled_by_n_embd}),
    Mutant("inverse_layer_scale", "scores also divided by layer index + 1 (scale_attn_by_inverse_layer_idx wrongly on)",
           "huggingface/transformers GPT2Config.scale_attn_by_inverse_layer_idx (shared anchors, bug 24)",
           ("reference_logits",), model=_in_layers(lambda layer, n: True, _inverse_layer_scale)),
    Mutant("no_causal_mask", "no causal mask at all: every position attends to the whole sequence",
           "keras-team/keras#23038 (MultiHeadAttention dropped the causal mask on a fallback path)",
           ("causal_masking",), patches={"attention_mask": lambda nd, ns, dtype: np.ones((nd, ns), dtype)}),
    Mutant("mask_leak_in_last_layer", "the final block alone adds a -1e4 mask instead of replacing by -1e10",
           "a kernel or code path used only for the last layer (llama.cpp gpt2 inp_out_ids)",
           ("causal_masking",),
           model=_in_layers(lambda layer, n: layer == n - 1, lambda layer: {"mask_attn_weights": _mask_added_1e4})),
    Mutant("length_dependent", "attention softmax in float16 for key lengths that are multiples of 16 or beyond 48",
           "tile-size and threshold bugs in attention kernels (see shared anchors, bug 23)", ("prefix_consistency",),
           patches={"softmax": _softmax_fp16_at_some_lengths}),
    Mutant("nondeterministic", "tiny random noise in every call (racy reductions, uninitialised buffers)",
           "suite catalog: determinism", ("determinism",), model=_noisy),
)

# Real bugs that no mutant of the official architecture can stand for, and why.
NOT_APPLICABLE = {
    "n_inner_ignored": "the official GPT-2 has no n_inner (src/model.py hard-codes the MLP width "
                       "4 * n_embd) and canonical params have none, so a backend cannot be given another width; "
                       "an implementation that ignores a configured n_inner is as right as the official code here",
}

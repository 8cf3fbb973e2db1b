"""Mutants for the decoding properties: KV cache, padding, generation, extreme scores and the loss."""
from unittest import mock

import numpy as np

from gpt2_conformance import reference
from gpt2_conformance.backends import Capabilities
from gpt2_conformance.mutants import Mutant, register
from gpt2_conformance.reference import gpt2

_attention_mask = gpt2.attention_mask
_positions = gpt2.positions
_mask_padding = gpt2.mask_padding
PADDING = Capabilities(past=True, set_wte=True, dtypes=("float32",), padding=True)
FLOAT16 = Capabilities(past=True, set_wte=True, dtypes=("float32", "float16"))
OWN_LOSS = Capabilities(past=True, set_wte=True, dtypes=("float32",), loss=True)


def _top_left_mask_after_past(nd, ns, dtype):
    """SDPA is_causal aligns its triangle top-left; callers skip the mask for one query, so decoding one token still works."""
    if nd == 1:
        return np.ones((1, ns), dtype)
    return (np.arange(nd)[:, None] >= np.arange(ns)).astype(dtype)


def _mask_only_when_square(nd, ns, dtype):
    return _attention_mask(nd, ns, dtype) if nd == ns else np.ones((nd, ns), dtype)


def _positions_restart(past_length, seq, attention_mask=None):
    return _positions(0, seq, attention_mask)


def _mask_replaced_1e4(w):
    b = gpt2.attention_mask(w.shape[-2], w.shape[-1], w.dtype)
    return w * b - np.asarray(1e4, dtype=w.dtype) * (1 - b)


def _softmax_max_from_minus_10000(x):
    """The running max starts at -10000: when every score is below about -10088 all exp() underflow and 0/0 is NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.exp(x - np.maximum(x.max(axis=-1, keepdims=True), -10000))
        return e / e.sum(axis=-1, keepdims=True)


def _positions_ignore_padding(past_length, seq, attention_mask=None):
    return _positions(past_length, seq)


def _padding_mask_of_new_tokens_only(w, attention_mask):
    """The mask is taken for the new tokens only; the past is assumed to be all real tokens."""
    keep = attention_mask.copy()
    keep[:, : w.shape[-1] - w.shape[-2]] = 1
    return _mask_padding(w, keep)


def _loss_without_label_shift(m, tokens):
    """Cross-entropy of the logits at t against token t itself (labels not shifted)."""
    logits, _ = reference.model(m.params, tokens)
    z = logits - logits.max(axis=-1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(log_probs, tokens[..., None], axis=-1).mean()


def _quietly(m, tokens, past):
    with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the bug, not news
        return reference.model(m.params, tokens, past)


def _unmasked_cache_slots(m, tokens, past, attention_mask=None):
    """A cache pre-allocated to n_ctx: the unfilled slots hold zero keys and values and are not masked,
    so each adds exp(0 - max) to the softmax denominator (a full pass without a cache is unaffected)."""
    if past is None:
        return reference.model(m.params, tokens, past, attention_mask)
    n_ctx = m.params.hparams.n_ctx

    def softmax_with_zero_slots(x):
        top = np.maximum(x.max(axis=-1, keepdims=True), 0)
        e = np.exp(x - top)
        return e / (e.sum(axis=-1, keepdims=True) + (n_ctx - x.shape[-1]) * np.exp(-top))

    with mock.patch.object(gpt2, "softmax", softmax_with_zero_slots):
        return reference.model(m.params, tokens, past, attention_mask)


register(
    Mutant("top_left_mask_after_past",
           "causal mask aligned top-left for a multi-token chunk after past (SDPA is_causal=True); one-token decode still right",
           "pytorch/pytorch#108108, huggingface/transformers#31943", ("kv_cache",),
           patches={"attention_mask": _top_left_mask_after_past}),
    Mutant("mask_only_when_square", "causal mask applied only when q_len == kv_len: a chunk after past sees its own future",
           "shared anchors, bug 8 (mask skipped for q_len != kv_len)", ("kv_cache",),
           patches={"attention_mask": _mask_only_when_square}),
    Mutant("positions_restart_with_past", "positions restart at 0 for the tokens after past",
           "ml-explore/mlx-examples (mlx-lm) PR #93", ("kv_cache", "generation"), patches={"positions": _positions_restart}),
    Mutant("unmasked_cache_slots", "pre-allocated cache slots not masked: zero keys attended",
           "keras-team/keras-hub compute_causal_mask; huggingface/transformers#13175", ("kv_cache",),
           model=_unmasked_cache_slots),
    Mutant("mask_replaced_1e4", "masked scores replaced by -1e4 (not -1e10): once real scores fall below it the future leaks",
           "huggingface/transformers#15199, fixed by #17306", ("finite_outputs",),
           patches={"mask_attn_weights": _mask_replaced_1e4}),
    Mutant("softmax_max_from_minus_10000", "softmax running max initialised to -10000: NaN when all scores are below ~-10088",
           "karpathy/llm.c train_gpt2.c attention_forward (maxval = -10000.0f)", ("finite_outputs",),
           patches={"softmax": _softmax_max_from_minus_10000}),
    Mutant("padding_without_positions", "left padding without corrected positions: padding tokens take position ids",
           "huggingface/transformers#3021, #3095; huggingface/trl#469", ("batch_padding",),
           patches={"positions": _positions_ignore_padding}, capabilities=PADDING),
    Mutant("padding_mask_misaligned_with_past", "attention mask taken for the new tokens only: padding in past is attended",
           "huggingface/transformers#3031 (PR #3033), #4130", ("batch_padding",),
           patches={"mask_padding": _padding_mask_of_new_tokens_only}, capabilities=PADDING),
    Mutant("loss_without_label_shift", "the loss pairs the logits at t with token t instead of t + 1",
           "huggingface/transformers PR #404", ("lm_loss",), loss=_loss_without_label_shift, capabilities=OWN_LOSS),
    # The reference computes in the dtype it is given: in float16 the official w*b - 1e10*(1-b) is the bug.
    Mutant("mask_1e10_in_float16", "the official -1e10 mask constant in float16: it overflows to inf and inf * 0 is NaN",
           "huggingface/transformers#382 (fixed by #495); openai/gpt-2 PR #122", ("reference_logits[float16]",),
           model=_quietly, capabilities=FLOAT16),
)

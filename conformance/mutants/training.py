"""Mutants of the backward pass: the forward is exact, only the gradients are wrong, as in the training
bugs people shipped. Each is the reference backward with one function replaced."""
import math

import numpy as np

from gpt2_conformance.backends import Capabilities
from gpt2_conformance.judge import expectations
from gpt2_conformance.mutants import Mutant, register
from gpt2_conformance.mutants.tightness import SLIP
from gpt2_conformance.reference import backward, gpt2

TRAINS = Capabilities(past=True, set_wte=True, dtypes=("float32",), grad=True)
_attention_backward = backward.attention_backward
_layer_norm_backward = backward.layer_norm_backward
_lm_loss_and_backward = backward.lm_loss_and_backward
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _wte_gradient(head_times):
    """A trainer whose wte gradient is its embedding path plus head_times its head path."""
    def trainer(m, tokens, loss_mask):
        loss, grads, wte_head, dx = backward.backprop(m.params, tokens, loss_mask)
        grads["model/wte"] = backward.embedding_backward(dx, tokens, head_times * wte_head)
        return loss, {name: grads[name] for name in m.params.tensors}

    return trainer


def _layer_norm_dweight_in_whole_blocks(dy, x, g, eps=1e-5, block=4):
    """dweight summed over whole blocks of `block` rows only: a partial last block is dropped, as a buffer
    sized by floor division drops it."""
    dx, _, db = _layer_norm_backward(dy, x, g, eps)
    n = x.shape[-1]
    u = x.mean(axis=-1, keepdims=True)
    xhat = ((x - u) / np.sqrt(np.square(x - u).mean(axis=-1, keepdims=True) + eps)).reshape(-1, n)
    rows = xhat.shape[0] // block * block
    return dx, (dy.reshape(-1, n)[:rows] * xhat[:rows]).sum(axis=0), db


def _layer_norm_backward_over_2d_rows(dy, x, g, eps=1e-5):
    """dx as if each [seq, n_embd] of the batch were one row (the input's first axis taken as the rows)."""
    _, dg, db = _layer_norm_backward(dy, x, g, eps)
    rows = x.reshape(x.shape[0], -1)
    u = rows.mean(axis=-1, keepdims=True)
    std = np.sqrt(np.square(rows - u).mean(axis=-1, keepdims=True) + eps)
    xhat = (rows - u) / std
    dxhat = (dy * g).reshape(rows.shape)
    dx = (dxhat - dxhat.mean(axis=-1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True)) / std
    return dx.reshape(x.shape), dg, db


def _embedding_backward_without_accumulation(dy, ids, dtable):
    dtable[ids] += dy  # a buffered read-add-write: of repeated ids, one update survives
    return dtable


def _attention_backward_with_unmasked_probabilities(dy, p, n_head, cache):
    """The backward recomputes the attention probabilities, without the causal mask."""
    x, q, k, v, probs, a = cache
    w = q @ k.swapaxes(-1, -2) / np.sqrt(np.asarray(v.shape[-1], dtype=x.dtype))
    return _attention_backward(dy, p, n_head, (x, q, k, v, gpt2.softmax(w), a))


def _loss_per_sequence(logits, tokens, loss_mask=None):
    """The loss (and its gradient) summed over each sequence's predictions, averaged over the batch only."""
    loss, dy = _lm_loss_and_backward(logits, tokens, loss_mask)
    counted = (tokens.shape[1] - 1) if loss_mask is None else loss_mask.sum() / tokens.shape[0]
    dy *= counted
    return loss * counted, dy


def _gelu_backward_of_erf(dy, x):
    """The derivative of the exact erf GELU, Phi(x) + x phi(x), where the forward is the tanh one."""
    cdf = 0.5 * (1 + _erf(x / math.sqrt(2)))
    return (dy * (cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))).astype(x.dtype)


register(
    Mutant("untied_head_gradient", "the head's gradient never reaches wte (a head of its own, updated apart)",
           "paiml/entrenar#314 (tied weight gradient not accumulated)", ("tied_gradient",),
           trainer=_wte_gradient(0), capabilities=TRAINS),
    Mutant("head_gradient_counted_twice", "the head's gradient added into wte twice",
           "NVIDIA/Megatron-LM#844 (a shared embedding's gradient summed wrongly)", ("tied_gradient",),
           trainer=_wte_gradient(2), capabilities=TRAINS),
    Mutant("layer_norm_dweight_drops_a_block", "LayerNorm's weight gradient leaves out the rows past the last "
           "whole block of four", "BobMcDear/attorch#18 (the last block dropped from the weight gradient); "
           "karpathy/llm.c#428 (dweight mismatch)", ("gradients",),
           backward_patches={"layer_norm_backward": _layer_norm_dweight_in_whole_blocks},
           capabilities=TRAINS),
    Mutant("layer_norm_backward_2d", "LayerNorm's backward takes the input's first axis as its rows: wrong for "
           "[batch, seq, n_embd]", "flagos-ai/FlagGems#5392", ("gradients",),
           backward_patches={"layer_norm_backward": _layer_norm_backward_over_2d_rows}, capabilities=TRAINS),
    Mutant("embedding_backward_without_accumulation", "the gather's backward keeps one update of a repeated id",
           "pytorch/pytorch#1631", ("gradients",),
           backward_patches={"embedding_backward": _embedding_backward_without_accumulation}, capabilities=TRAINS),
    Mutant("attention_backward_without_mask", "the attention backward recomputes its probabilities without the "
           "causal mask", "triton-lang/triton#4541", ("causal_gradient",),
           backward_patches={"attention_backward": _attention_backward_with_unmasked_probabilities}, capabilities=TRAINS),
    Mutant("loss_normalised_per_sequence", "the loss summed over each sequence and averaged over the batch only "
           "(every gradient scaled by the sequence length)", "OpenNMT/OpenNMT-py#526", ("gradients",),
           backward_patches={"lm_loss_and_backward": _loss_per_sequence}, capabilities=TRAINS),
    Mutant("gelu_backward_of_erf", "the GELU backward of the exact erf GELU under the tanh forward",
           "karpathy/nanoGPT#274 (the two GELUs), in a backward alone", ("gradients",),
           backward_patches={"gelu_backward": _gelu_backward_of_erf}, capabilities=TRAINS),
    # The mildest form of the two GELUs and of a LayerNorm's constants, in a backward alone.
    Mutant("gelu_backward_coefficient_3_digits", "the GELU backward's cubic coefficient rounded to 0.0447 "
           "(0.044715), the forward exact", f"{SLIP}; GELU constants wrong in a real port: "
           "huggingface/transformers#11514 (coefficients swapped)", ("gradients",),
           backward_patches={"GELU_CUBIC": 0.0447}, capabilities=TRAINS),
    Mutant("layer_norm_backward_eps_4th_digit", "LayerNorm's backward recomputes its statistics with eps 1.001e-5 "
           "(the forward's 1e-5)", SLIP, ("gradients",),
           backward_patches={"layer_norm_backward": lambda dy, x, g: _layer_norm_backward(dy, x, g, eps=1.001e-5)},
           capabilities=TRAINS),
)

# A loophole (mutants/loopholes.py): an upstream set that would cover a bug of the backend's own in the same
# kernel. The LayerNorm weight-gradient bug above, certified with --expectations torch (PyTorch's LayerNorm of
# width 1), which bounds n_embd 1 alone.
register(Mutant("layer_norm_dweight_behind_torch_set", "LayerNorm's weight gradient leaves out the rows past the "
                "last whole block of four, certified with the upstream set torch",
                "a loophole: an upstream set (pytorch/pytorch#188375) covering a LayerNorm bug of the backend's own; "
                "BobMcDear/attorch#18", ("gradients",),
                backward_patches={"layer_norm_backward": _layer_norm_dweight_in_whole_blocks}, capabilities=TRAINS,
                expected=expectations.load_source("torch").entries))

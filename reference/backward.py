"""The gradient of reference.gpt2's language-model loss with respect to every parameter, in NumPy.

It mirrors reference/gpt2.py function for function, as llm.c's backward mirrors its forward: each
`f_backward` takes the gradient of f's output and what f saw, and returns the gradients of f's inputs
and parameters. The forward it differentiates is gpt2's own, without past or padding: the `*_forward`
functions here call gpt2's functions in gpt2's order and keep the activations the backward needs.

Like the forward it computes in the dtype of the parameters it is given (float64 is the reference).
"""
import math

import numpy as np

from gpt2_conformance.reference import gpt2
from gpt2_conformance.reference.params import InvalidInput, check_inputs

GELU_C = math.sqrt(2 / math.pi)  # gpt2.gelu's constants
GELU_CUBIC = 0.044715


# The forward pass, keeping activations.

def attention_forward(x, p, n_head):
    """gpt2.attention without past or padding -> (output [batch, seq, n_embd], cache for attention_backward)."""
    c = gpt2.conv1d(x, p["attn/c_attn/w"], p["attn/c_attn/b"])
    q, k, v = (gpt2.split_heads(part, n_head) for part in np.split(c, 3, axis=-1))
    w = q @ k.swapaxes(-1, -2)
    w *= 1 / np.sqrt(np.asarray(v.shape[-1], dtype=x.dtype))
    probs = gpt2.softmax(gpt2.mask_attn_weights(w))
    a = gpt2.merge_heads(probs @ v)
    return gpt2.conv1d(a, p["attn/c_proj/w"], p["attn/c_proj/b"]), (x, q, k, v, probs, a)


def mlp_forward(x, p):
    """gpt2.mlp -> (output [batch, seq, n_embd], cache for mlp_backward)."""
    h = gpt2.conv1d(x, p["mlp/c_fc/w"], p["mlp/c_fc/b"])
    g = gpt2.gelu(h)
    return gpt2.conv1d(g, p["mlp/c_proj/w"], p["mlp/c_proj/b"]), (x, h, g)


def block_forward(x, p, n_head):
    """gpt2.block without past or padding -> (output [batch, seq, n_embd], cache for block_backward)."""
    a, attn_cache = attention_forward(gpt2.layer_norm(x, p["ln_1/g"], p["ln_1/b"]), p, n_head)
    x1 = x + a
    m, mlp_cache = mlp_forward(gpt2.layer_norm(x1, p["ln_2/g"], p["ln_2/b"]), p)
    return x1 + m, (x, attn_cache, x1, mlp_cache)


def forward_with_cache(params, tokens):
    """gpt2.model without past or padding -> (logits [batch, seq, n_vocab], cache for model_backward)."""
    hp, t = params.hparams, params.tensors
    check_inputs(hp, tokens)
    x = t["model/wte"][tokens] + t["model/wpe"][gpt2.positions(0, tokens.shape[1])]
    blocks = []
    for layer in range(hp.n_layer):
        x, cache = block_forward(x, params.layer(layer), hp.n_head)
        blocks.append(cache)
    h = gpt2.layer_norm(x, t["model/ln_f/g"], t["model/ln_f/b"])
    return h @ t["model/wte"].T, (tokens, blocks, x, h)


# The backward pass, one function per forward concept.

def gelu_backward(dy, x):
    """dy [..., n], x [..., n] the input of gelu -> dx [..., n]."""
    x2 = x * x
    t = np.tanh(GELU_C * (x + GELU_CUBIC * (x2 * x)))  # gelu's tanh; x * x * x, not x**3, as gelu
    # gelu = 0.5 x (1 + t) with t = tanh(u), u = c (x + 0.044715 x^3): dgelu/dx = 0.5 (1 + t + x (1 - t^2) du/dx)
    dx = x * (1 - t * t)
    dx *= GELU_C * (1 + 3 * GELU_CUBIC * x2)
    dx += 1 + t
    dx *= 0.5 * dy
    return dx


def layer_norm_backward(dy, x, g, eps=1e-5):
    """dy [..., n], x [..., n] the input of layer_norm, g [n] -> dx [..., n], dg [n], db [n]."""
    u = x.mean(axis=-1, keepdims=True)
    std = np.sqrt(np.square(x - u).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - u) / std
    n = x.shape[-1]
    dg = (dy * xhat).reshape(-1, n).sum(axis=0)
    db = dy.reshape(-1, n).sum(axis=0)
    dxhat = dy * g
    # the mean and the variance depend on every entry of the row: their paths subtract the row means
    dx = dxhat - dxhat.mean(axis=-1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True)
    dx /= std
    return dx, dg, db


def conv1d_backward(dy, x, w):
    """dy [..., nf], x [..., nx] the input of conv1d, w [1, nx, nf] -> dx [..., nx], dw [1, nx, nf], db [nf]."""
    nx, nf = w.shape[1:]
    dy2 = dy.reshape(-1, nf)
    return dy @ w[0].T, (x.reshape(-1, nx).T @ dy2)[None], dy2.sum(axis=0)


def softmax_backward(dy, y):
    """dy [..., n], y = softmax(x) [..., n] -> dx [..., n], written over dy (attention's is n_head * seq**2)."""
    dy -= (dy[..., None, :] @ y[..., :, None])[..., 0]  # row dots as [1, n] @ [n, 1] products: no n_head * seq**2 temporary
    dy *= y
    return dy


def mask_attn_weights_backward(dy):
    """dy [..., nd, ns] -> the gradient of the unmasked scores, written over dy: masked scores get zero,
    since the -1e10 they were replaced by does not depend on them."""
    dy *= gpt2.attention_mask(dy.shape[-2], dy.shape[-1], dy.dtype)
    return dy


def split_heads_backward(dy):
    """[batch, n_head, seq, head_dim] -> [batch, seq, n_embd]: split_heads only moves entries."""
    return gpt2.merge_heads(dy)


def merge_heads_backward(dy, n_head):
    """[batch, seq, n_embd] -> [batch, n_head, seq, head_dim]: merge_heads only moves entries."""
    return gpt2.split_heads(dy, n_head)


def attention_backward(dy, p, n_head, cache):
    """dy [batch, seq, n_embd] -> dx [batch, seq, n_embd] and {name: gradient} of the attn/ tensors."""
    x, q, k, v, probs, a = cache
    da, dw_proj, db_proj = conv1d_backward(dy, a, p["attn/c_proj/w"])
    da = merge_heads_backward(da, n_head)
    dv = probs.swapaxes(-1, -2) @ da
    dw = mask_attn_weights_backward(softmax_backward(da @ v.swapaxes(-1, -2), probs))
    dw *= 1 / np.sqrt(np.asarray(v.shape[-1], dtype=x.dtype))
    dq, dk = dw @ k, dw.swapaxes(-1, -2) @ q
    dc = np.concatenate([split_heads_backward(d) for d in (dq, dk, dv)], axis=-1)  # np.split's backward
    dx, dw_attn, db_attn = conv1d_backward(dc, x, p["attn/c_attn/w"])
    return dx, {"attn/c_attn/w": dw_attn, "attn/c_attn/b": db_attn, "attn/c_proj/w": dw_proj, "attn/c_proj/b": db_proj}


def mlp_backward(dy, p, cache):
    """dy [batch, seq, n_embd] -> dx [batch, seq, n_embd] and {name: gradient} of the mlp/ tensors."""
    x, h, g = cache
    dg, dw_proj, db_proj = conv1d_backward(dy, g, p["mlp/c_proj/w"])
    dx, dw_fc, db_fc = conv1d_backward(gelu_backward(dg, h), x, p["mlp/c_fc/w"])
    return dx, {"mlp/c_fc/w": dw_fc, "mlp/c_fc/b": db_fc, "mlp/c_proj/w": dw_proj, "mlp/c_proj/b": db_proj}


def block_backward(dy, p, n_head, cache):
    """dy [batch, seq, n_embd] -> dx [batch, seq, n_embd] and {name: gradient} of the block's tensors."""
    x, attn_cache, x1, mlp_cache = cache
    dln_2, grads = mlp_backward(dy, p, mlp_cache)
    dx1, grads["ln_2/g"], grads["ln_2/b"] = layer_norm_backward(dln_2, x1, p["ln_2/g"])
    dx1 += dy  # the residual
    dln_1, attn_grads = attention_backward(dx1, p, n_head, attn_cache)
    dx, grads["ln_1/g"], grads["ln_1/b"] = layer_norm_backward(dln_1, x, p["ln_1/g"])
    dx += dx1
    return dx, grads | attn_grads


def embedding_backward(dy, ids, dtable):
    """The gather table[ids]: adds dy [..., n_embd] into dtable [n_rows, n_embd] at rows ids and returns it.
    Repeated ids accumulate (np.add.at: dtable[ids] += dy would keep only one of them)."""
    np.add.at(dtable, ids, dy)
    return dtable


def head_backward(dy, h, wte):
    """The tied head logits = h @ wte.T: dy [batch, seq, n_vocab], h [batch, seq, n_embd] -> dh, and the
    head path of wte's gradient [n_vocab, n_embd]."""
    return dy @ wte, dy.reshape(-1, wte.shape[0]).T @ h.reshape(-1, wte.shape[1])


def lm_loss_and_backward(logits, tokens, loss_mask=None):
    """logits [batch, seq, n_vocab] -> (the loss, d loss / d logits), both from one softmax, the gradient
    written over logits. The loss is gpt2.lm_loss, or where loss_mask (0/1 [batch, seq - 1]) is given, the
    mean over the predictions it selects (position t predicting token t + 1); its gradient is
    (softmax - one-hot of the next token) / the number of predictions counted, at each counted position,
    and zero elsewhere (the last position predicts nothing). At GPT-2 small's vocabulary each further
    [seq, n_vocab] array would cost a tenth of a forward pass."""
    labels = tokens[:, 1:, None]
    weight = np.ones(labels.shape, logits.dtype) if loss_mask is None else loss_mask[..., None].astype(logits.dtype)
    dy = logits
    dy[:, -1] = 0
    z = dy[:, :-1]
    z -= z.max(axis=-1, keepdims=True)  # gpt2.lm_loss's steps, so the loss is the same to the last bit
    z_label = np.take_along_axis(z, labels, axis=-1)
    np.exp(z, out=z)
    s = z.sum(axis=-1, keepdims=True)
    counted = weight.sum()
    loss = -((z_label - np.log(s)) * weight).sum() / counted
    z /= s
    np.put_along_axis(z, labels, np.take_along_axis(z, labels, axis=-1) - 1, axis=-1)
    z *= weight / counted
    return loss, dy


def model_backward(dlogits, params, cache):
    """dlogits [batch, seq, n_vocab] -> ({name: gradient} of every tensor but model/wte, the head path of
    wte's gradient [n_vocab, n_embd], and dx [batch, seq, n_embd], the gradient of the embeddings
    wte[tokens] + wpe[positions]). Frees the cache's layers as it goes back through them."""
    hp, t = params.hparams, params.tensors
    tokens, blocks, x, h = cache
    dh, wte_head = head_backward(dlogits, h, t["model/wte"])
    grads = {}
    dx, grads["model/ln_f/g"], grads["model/ln_f/b"] = layer_norm_backward(dh, x, t["model/ln_f/g"])
    for layer in reversed(range(hp.n_layer)):
        dx, layer_grads = block_backward(dx, params.layer(layer), hp.n_head, blocks.pop())
        grads |= {f"model/h{layer}/{name}": g for name, g in layer_grads.items()}
    positions = np.broadcast_to(gpt2.positions(0, tokens.shape[1]), tokens.shape)
    grads["model/wpe"] = embedding_backward(dx, positions, np.zeros_like(t["model/wpe"]))
    return grads, wte_head, dx


def backprop(params, tokens, loss_mask=None):
    """The loss, then model_backward's three results, for int tokens [batch, seq >= 2] (loss_mask: see
    lm_loss_and_backward)."""
    check_inputs(params.hparams, tokens)
    if tokens.shape[1] < 2:
        raise InvalidInput(f"the loss needs seq >= 2 (position t predicts token t + 1), got tokens of shape {tokens.shape}")
    if loss_mask is not None and (np.shape(loss_mask) != (tokens.shape[0], tokens.shape[1] - 1)
                                  or not np.isin(loss_mask, (0, 1)).all() or not np.any(loss_mask)):
        raise InvalidInput(f"loss_mask must be 0/1 of shape [batch, seq - 1] = {[tokens.shape[0], tokens.shape[1] - 1]} "
                           "and select at least one prediction")
    logits, cache = forward_with_cache(params, tokens)
    loss, dlogits = lm_loss_and_backward(logits, tokens, loss_mask)
    return float(loss), *model_backward(dlogits, params, cache)


def loss_and_grads(params, tokens, loss_mask=None):
    """(mean next-token cross-entropy, {name: d loss / d tensor}) for every tensor of params, each of the
    tensor's shape and dtype, for int tokens [batch, seq >= 2] (loss_mask: see lm_loss_and_backward)."""
    loss, grads, wte_head, dx = backprop(params, tokens, loss_mask)
    # the tied wte: its embedding path accumulates onto its head path, in place (a 300 MB array at GPT-2 small)
    grads["model/wte"] = embedding_backward(dx, tokens, wte_head)
    return loss, {name: grads[name] for name in params.tensors}


def wte_grad_paths(params, tokens, loss_mask=None):
    """The two paths of the tied wte's gradient, (head, embedding), each [n_vocab, n_embd]: through the
    logits h @ wte.T and through the gather wte[tokens]. Their sum is loss_and_grads' model/wte."""
    _, _, wte_head, dx = backprop(params, tokens, loss_mask)
    return wte_head, embedding_backward(dx, tokens, np.zeros_like(wte_head))

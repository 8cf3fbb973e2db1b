"""A complete adapter: a small GPT-2 written from scratch in PyTorch, made certifiable.

    gpt2-conformance certify --backend my_torch_gpt2:backend      # in the directory of this file
    pytest --gpt2-backend my_torch_gpt2:backend                   # the same, as pytest items

(or examples.my_torch_gpt2:backend from the repository root). The model is yours; the
adapter is `load` (canonical params -> your model), `forward` (int tokens -> float logits) and, for the
training properties, `loss_and_grads` (the loss and every parameter's gradient, under the official names).
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from gpt2_conformance.backends import Capabilities


class LayerNorm(nn.Module):
    """Written out rather than nn.LayerNorm: torch's fused CPU kernel returns a nonzero gradient where it is
    zero for a LayerNorm of width 1 (pytorch/pytorch#188375), which the suite's n_embd 1 examples show."""

    def __init__(self, n_embd, eps=1e-5):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(n_embd)), nn.Parameter(torch.zeros(n_embd)), eps

    def forward(self, x):
        u = x.mean(-1, keepdim=True)
        return (x - u) / torch.sqrt((x - u).square().mean(-1, keepdim=True) + self.eps) * self.weight + self.bias


class Block(nn.Module):
    def __init__(self, n_embd, n_head, layer_norm=LayerNorm):
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = layer_norm(n_embd), layer_norm(n_embd)
        self.c_attn, self.c_proj = nn.Linear(n_embd, 3 * n_embd), nn.Linear(n_embd, n_embd)
        self.c_fc, self.mlp_proj = nn.Linear(n_embd, 4 * n_embd), nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(a.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class MyGPT2(nn.Module):
    def __init__(self, n_vocab, n_ctx, n_embd, n_head, n_layer, layer_norm=LayerNorm):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(n_vocab, n_embd), nn.Embedding(n_ctx, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, layer_norm) for _ in range(n_layer))
        self.ln_f = layer_norm(n_embd)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # tied head


# The adapter: canonical params (official names, Conv1D weights [1, nx, nf]) into MyGPT2, and back.

def official_parameters(model):
    """(official name, parameter, is Conv1D) for every tensor: a Conv1D weight [1, nx, nf] is Linear's
    weight [nf, nx] transposed, with the leading 1."""
    named = [("model/wte", model.wte.weight, False), ("model/wpe", model.wpe.weight, False),
             ("model/ln_f/g", model.ln_f.weight, False), ("model/ln_f/b", model.ln_f.bias, False)]
    for i, block in enumerate(model.blocks):
        for ln in ("ln_1", "ln_2"):
            named += [(f"model/h{i}/{ln}/g", getattr(block, ln).weight, False),
                      (f"model/h{i}/{ln}/b", getattr(block, ln).bias, False)]
        for mine, theirs in (("c_attn", "attn/c_attn"), ("c_proj", "attn/c_proj"),
                             ("c_fc", "mlp/c_fc"), ("mlp_proj", "mlp/c_proj")):
            named += [(f"model/h{i}/{theirs}/w", getattr(block, mine).weight, True),
                      (f"model/h{i}/{theirs}/b", getattr(block, mine).bias, False)]
    return named


class Adapted:
    def __init__(self, model):
        self.model = model

    def forward(self, tokens, past=None):
        with torch.no_grad():
            return self.model(torch.from_numpy(tokens)).numpy(), None

    def loss_and_grads(self, tokens, loss_mask=None):
        """The mean cross-entropy of the predictions loss_mask [batch, seq - 1] selects (position t predicts
        token t + 1) and autograd's gradient of it. The head is wte itself, so wte's gradient holds both paths."""
        ids = torch.from_numpy(tokens)
        weight = torch.ones(ids[:, 1:].shape) if loss_mask is None else torch.from_numpy(loss_mask).float()
        logits = self.model(ids)[:, :-1]
        nll = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")  # [batch, seq - 1]
        loss = (nll * weight).sum() / weight.sum()
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        return loss.item(), {name: (p.grad.T[None] if conv1d else p.grad).numpy()
                             for name, p, conv1d in official_parameters(self.model)}

    def set_wte(self, wte):
        with torch.no_grad():
            self.model.wte.weight.copy_(torch.from_numpy(wte))


class MyBackend:
    capabilities = Capabilities(past=False, set_wte=True, dtypes=("float32",), grad=True)

    def __init__(self, name="my-torch-gpt2", layer_norm=LayerNorm):
        self.name, self.layer_norm = name, layer_norm

    def load(self, params, dtype="float32"):
        hp = params.hparams
        model = MyGPT2(hp.n_vocab, hp.n_ctx, hp.n_embd, hp.n_head, hp.n_layer, self.layer_norm).eval()
        for name, param, conv1d in official_parameters(model):
            value = params.tensors[name][0].T if conv1d else params.tensors[name]
            param.data = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        return Adapted(model)


backend = MyBackend()

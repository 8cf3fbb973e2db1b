"""A complete adapter: a small GPT-2 written from scratch in PyTorch, made certifiable.

    gpt2-conformance certify --backend examples.my_torch_gpt2:backend

(run from the repository root, or put this file anywhere on PYTHONPATH). The model is yours; the
adapter is `load` (canonical params -> your model) and `forward` (int tokens -> float logits).
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from conformance.backends import Capabilities


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd, eps=1e-5), nn.LayerNorm(n_embd, eps=1e-5)
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
    def __init__(self, n_vocab, n_ctx, n_embd, n_head, n_layer):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(n_vocab, n_embd), nn.Embedding(n_ctx, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, eps=1e-5)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # tied head


# The adapter: canonical params (official names, Conv1D weights [1, nx, nf]) into MyGPT2.

class Adapted:
    def __init__(self, model):
        self.model = model

    def forward(self, tokens, past=None):
        with torch.no_grad():
            return self.model(torch.from_numpy(tokens)).numpy(), None

    def set_wte(self, wte):
        with torch.no_grad():
            self.model.wte.weight.copy_(torch.from_numpy(wte))


class MyBackend:
    name = "my-torch-gpt2"
    capabilities = Capabilities(past=False, set_wte=True, dtypes=("float32",))

    def load(self, params, dtype="float32"):
        hp, t = params.hparams, params.tensors
        model = MyGPT2(hp.n_vocab, hp.n_ctx, hp.n_embd, hp.n_head, hp.n_layer).eval()

        def put(param, value, conv1d=False):  # official Conv1D [1, nx, nf] is Linear's weight transposed
            value = value[0].T if conv1d else value
            param.data = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))

        put(model.wte.weight, t["model/wte"])
        put(model.wpe.weight, t["model/wpe"])
        for i, block in enumerate(model.blocks):
            p = params.layer(i)
            for ln in ("ln_1", "ln_2"):
                put(getattr(block, ln).weight, p[f"{ln}/g"])
                put(getattr(block, ln).bias, p[f"{ln}/b"])
            for mine, theirs in (("c_attn", "attn/c_attn"), ("c_proj", "attn/c_proj"),
                                 ("c_fc", "mlp/c_fc"), ("mlp_proj", "mlp/c_proj")):
                put(getattr(block, mine).weight, p[f"{theirs}/w"], conv1d=True)
                put(getattr(block, mine).bias, p[f"{theirs}/b"])
        put(model.ln_f.weight, t["model/ln_f/g"])
        put(model.ln_f.bias, t["model/ln_f/b"])
        return Adapted(model)


backend = MyBackend()

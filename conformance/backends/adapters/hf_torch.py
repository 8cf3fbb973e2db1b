"""transformers' GPT2LMHeadModel in PyTorch, with the eager or the SDPA attention implementation."""
import copy
import os
import weakref

import numpy as np

from gpt2_conformance.backends import Capabilities
from gpt2_conformance.cases.checkpoints import hf_config, hf_names

REQUIRES = ("torch", "transformers")


class HFTorchModel:
    def __init__(self, model, torch, hparams):
        self.model, self.torch, self.hparams = model, torch, hparams
        self.device = next(model.parameters()).device

    def forward(self, tokens, past=None, attention_mask=None):
        torch = self.torch
        # transformers appends to a cache in place; the suite may continue one cache more than once.
        cache = copy.deepcopy(past) if past is not None else None
        padding = {}
        if attention_mask is not None:
            # transformers takes positions from the caller: count real tokens only (transformers#3021)
            positions = np.maximum(np.cumsum(attention_mask, axis=-1) - 1, 0)[:, -tokens.shape[1]:]
            padding = {"attention_mask": self._tensor(attention_mask), "position_ids": self._tensor(positions)}
        with torch.no_grad():
            out = self.model(self._tensor(tokens), cache=cache, use_cache=True, **padding)
        return out.logits.float().cpu().numpy(), out.cache

    def loss(self, tokens):
        ids = self._tensor(tokens)
        with self.torch.no_grad():
            return self.model(ids, labels=ids).loss.double().cpu().numpy()

    def loss_and_grads(self, tokens, loss_mask=None):
        """transformers' own loss (labels shifted inside, -100 where loss_mask leaves a prediction out) and
        autograd's gradient of every parameter. wte is one parameter for the embedding and the tied head,
        so its gradient holds both paths."""
        ids = self._tensor(tokens)
        labels = ids.clone()
        if loss_mask is not None:
            labels[:, 1:][self._tensor(loss_mask == 0)] = -100
        self.model.zero_grad(set_to_none=True)
        with self.torch.enable_grad():
            loss = self.model(ids, labels=labels).loss
            loss.backward()
        parameters = dict(self.model.transformer.named_parameters())
        grads = {}
        for name, hf in hf_names(self.hparams).items():
            g = parameters[hf].grad.double().cpu().numpy()
            grads[name] = g[None] if name.endswith("/w") else g  # Conv1D [nx, nf] -> the official [1, nx, nf]
        return float(loss.detach()), grads

    def _tensor(self, array):
        return self.torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def set_wte(self, wte):
        with self.torch.no_grad():
            self.model.transformer.wte.weight.copy_(self.torch.from_numpy(wte))


def transformer_state(params):
    """The params as GPT2LMHeadModel's float32 state dict, without the head (Conv1D weights [nx, nf]).
    The tensors may share memory with the params' arrays (torch.from_numpy)."""
    import torch

    state = {}
    for name, hf in hf_names(params.hparams).items():
        value = params.tensors[name][0] if name.endswith("/w") else params.tensors[name]
        state[f"transformer.{hf}"] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    return state


class HFTorch:
    capabilities = Capabilities(past=True, set_wte=True, dtypes=("float32", "float16", "bfloat16"), padding=True, loss=True,
                                grad=True)

    def __init__(self, attn_implementation, device=None):
        self.attn_implementation = attn_implementation
        self._device = device
        self.name = f"hf-torch-{attn_implementation}"
        self._idle = {}  # {(hparams, dtype): [modules that no loaded model holds]}

    @property
    def device(self):
        """The constructor's device, else $GPT2_CONFORMANCE_DEVICE (e.g. cuda), else cpu."""
        return self._device or os.environ.get("GPT2_CONFORMANCE_DEVICE", "cpu")

    def load(self, params, dtype="float32"):
        """The params as a model. A module of the same architecture that no loaded model holds any more is given
        the new weights rather than built again: building transformers' modules took a fifth of a certify run
        (docs/performance.md), and every tensor of the module is replaced (assign)."""
        import torch

        idle = self._idle.setdefault((params.hparams, dtype), [])
        module = self.assign(idle.pop(), params, dtype) if idle else self.build(params, dtype)
        model = HFTorchModel(module, torch, params.hparams)
        weakref.finalize(model, idle.append, module)  # idle again once the suite lets go of the model
        return model

    def build(self, params, dtype="float32"):
        """A new GPT2LMHeadModel (torch.nn.Module) of the params, its head tied to wte, in eval mode."""
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel
        from transformers.initialization import no_init_weights

        config = GPT2Config(**hf_config(params.hparams))
        config._attn_implementation = self.attn_implementation
        # Every tensor is assigned after: skip transformers' random init, as from_pretrained does (on the meta
        # device its normal_ takes torch's Python reference path, half of the construction's time).
        with torch.device("meta"), no_init_weights():
            module = GPT2LMHeadModel(config)
        return self.assign(module, params, dtype)

    def assign(self, module, params, dtype):
        """module, a GPT2LMHeadModel of the params' architecture, holding the params in dtype."""
        import torch

        module.load_state_dict(transformer_state(params), strict=False, assign=True)
        module.tie_weights()  # the head is wte itself, as transformers ties it
        module = module.to(device=self.device, dtype=getattr(torch, dtype)).eval()
        assert module.lm_head.weight is module.transformer.wte.weight
        return module


eager = HFTorch("eager")
sdpa = HFTorch("sdpa")

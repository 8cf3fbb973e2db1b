"""transformers' GPT2LMHeadModel in PyTorch, with the eager or the SDPA attention implementation."""
import copy
import os

import numpy as np

from conformance.backends import Capabilities
from conformance.checkpoints import hf_config, hf_names

REQUIRES = ("torch", "transformers")


class HFTorchModel:
    def __init__(self, model, torch):
        self.model, self.torch = model, torch
        self.device = next(model.parameters()).device

    def forward(self, tokens, past=None):
        torch = self.torch
        # transformers appends to a cache in place; the suite may continue one cache more than once.
        cache = copy.deepcopy(past) if past is not None else None
        with torch.no_grad():
            out = self.model(torch.from_numpy(tokens).to(self.device), cache=cache, use_cache=True)
        return out.logits.float().cpu().numpy(), out.cache

    def set_wte(self, wte):
        with self.torch.no_grad():
            self.model.transformer.wte.weight.copy_(self.torch.from_numpy(wte))


class HFTorch:
    capabilities = Capabilities(past=True, set_wte=True, dtypes=("float32", "float16", "bfloat16"))

    def __init__(self, attn_implementation, device=None):
        self.attn_implementation = attn_implementation
        self._device = device
        self.name = f"hf-torch-{attn_implementation}"

    @property
    def device(self):
        """The constructor's device, else $GPT2_CONFORMANCE_DEVICE (e.g. cuda), else cpu."""
        return self._device or os.environ.get("GPT2_CONFORMANCE_DEVICE", "cpu")

    def load(self, params, dtype="float32"):
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(**hf_config(params.hparams))
        config._attn_implementation = self.attn_implementation
        with torch.device("meta"):
            model = GPT2LMHeadModel(config)
        state = {}
        for name, hf in hf_names(params.hparams).items():
            value = params.tensors[name][0] if name.endswith("/w") else params.tensors[name]
            state[f"transformer.{hf}"] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        model.load_state_dict(state, strict=False, assign=True)
        model.tie_weights()  # the head is wte itself, as transformers ties it
        model = model.to(device=self.device, dtype=getattr(torch, dtype)).eval()
        assert model.lm_head.weight is model.transformer.wte.weight
        return HFTorchModel(model, torch)


eager = HFTorch("eager")
sdpa = HFTorch("sdpa")

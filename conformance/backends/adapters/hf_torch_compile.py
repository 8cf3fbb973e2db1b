"""transformers' GPT2LMHeadModel under torch.compile (TorchInductor; C++ kernels on CPU).

Compiled with dynamic shapes, so a new batch or sequence length reuses the compiled graph, and so does
a new model of an architecture compiled before (its weights are graph inputs); a new architecture
compiles afresh (tens of seconds, docs/cases.md), so the backend declares compiles_per_architecture and
its cases draw from a fixed pool of architectures (gpt2_conformance.cases.strategies.ARCHITECTURES).
Dynamo's recompile limit is raised and made an error: past it, torch.compile silently falls back to
eager, and eager is not what this backend certifies.
"""
from dataclasses import replace

from gpt2_conformance.backends.adapters.hf_torch import HFTorch, HFTorchModel

REQUIRES = ("torch", "transformers")


class HFTorchCompile(HFTorch):
    def __init__(self, device=None):
        super().__init__("sdpa", device)
        self.name = "hf-torch-compile"
        # Gradients: torch.compile's backward is a graph of its own per architecture; not certified here.
        self.capabilities = replace(HFTorch.capabilities, compiles_per_architecture=True, grad=False)

    def load(self, params, dtype="float32"):
        import torch
        import torch._dynamo

        torch._dynamo.config.recompile_limit = 10_000
        torch._dynamo.config.fail_on_recompile_limit_hit = True
        return HFTorchModel(torch.compile(self.build(params, dtype), dynamic=True), torch, params.hparams)


backend = HFTorchCompile()

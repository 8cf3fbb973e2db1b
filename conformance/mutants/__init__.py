"""Broken GPT-2s: each is the reference with one real-world bug, to prove the properties can fail.

The catalog lives in the modules of this package, one per area; MUTANTS collects them.

A mutant is the float32 reference (so it is held to the float32 tolerance, like any real backend)
with one function of reference.gpt2 replaced while its forward pass runs, or with one line of
state handled wrongly. Each names the real bug it stands for and the property meant to kill it.
"""
from contextlib import ExitStack
from dataclasses import dataclass, field
from unittest import mock

import numpy as np

import reference
from conformance.backends import Capabilities
from reference import gpt2

REQUIRES = ("numpy",)


class MutantModel:
    def __init__(self, mutant, params):
        self.mutant = mutant
        self.params = params
        self.head = params.tensors["model/wte"].copy()  # used only by mutants that keep a head of their own
        self.calls = 0

    def forward(self, tokens, past=None, attention_mask=None):
        self.calls += 1
        # only mutants with capabilities.padding are given a mask, so only their model functions take one
        args = (tokens, past) if attention_mask is None else (tokens, past, attention_mask)
        with ExitStack() as stack:
            for name, replacement in self.mutant.patches.items():
                stack.enter_context(mock.patch.object(gpt2, name, replacement))
            logits, present = self.mutant.model(self, *args)
        return logits, present if past is None else np.concatenate([past, present], axis=-2)

    def loss(self, tokens):
        return self.mutant.loss(self, tokens)

    def set_wte(self, wte):
        self.params = self.params.with_tensor("model/wte", wte.astype(self.params.dtype))


def _model(m, tokens, past, attention_mask=None):
    return reference.model(m.params, tokens, past, attention_mask)


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str
    cite: str
    kills: tuple  # the properties meant to catch it
    patches: dict = field(default_factory=dict)  # reference.gpt2 function name -> replacement
    model: object = _model  # (MutantModel, tokens, past[, attention_mask]) -> (logits, present)
    loss: object = None  # (MutantModel, tokens) -> loss, for mutants with capabilities.loss
    convert: object = None  # params -> params, applied at load (a broken weight converter)
    capabilities: Capabilities = Capabilities(past=True, set_wte=True, dtypes=("float32",))

    def load(self, params, dtype="float32"):
        params = params.astype(np.dtype(dtype))
        return MutantModel(self, self.convert(params) if self.convert else params)


MUTANTS = {}


def register(*mutants):
    for m in mutants:
        assert m.name not in MUTANTS, m.name
        MUTANTS[m.name] = m


def __getattr__(name):  # conformance.mutants:erf_gelu as a backend spec
    if name in MUTANTS:
        return MUTANTS[name]
    raise AttributeError(name)


from conformance.mutants import catalog, decoding  # noqa: E402,F401  registers the catalog

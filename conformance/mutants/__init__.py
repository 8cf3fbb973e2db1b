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

from gpt2_conformance import reference
from gpt2_conformance.backends import Capabilities, Subject
from gpt2_conformance.reference import backward, gpt2

REQUIRES = ("numpy",)


class OutputBuffer:
    """One logits buffer for every call of every model, as a C engine that returns a pointer to its
    logits has (llama.cpp's llama_get_logits: valid until the next llama_decode): each call's logits
    are a view of it, overwritten by the next call."""

    def __init__(self):
        self.memory = np.empty(0)

    def hold(self, logits):
        if self.memory.size < logits.size or self.memory.dtype != logits.dtype:
            self.memory = np.empty(logits.size, logits.dtype)
        view = self.memory[:logits.size].reshape(logits.shape)
        view[...] = logits
        return view


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
        if self.mutant.reuses_output_buffer:
            logits = _BUFFERS.setdefault(self.mutant.name, OutputBuffer()).hold(logits)
        return logits, present if past is None else np.concatenate([past, present], axis=-2)

    def loss(self, tokens):
        return self.mutant.loss(self, tokens)

    def loss_and_grads(self, tokens, loss_mask=None):
        with ExitStack() as stack:
            for name, replacement in self.mutant.patches.items():
                stack.enter_context(mock.patch.object(gpt2, name, replacement))
            for name, replacement in self.mutant.backward_patches.items():
                stack.enter_context(mock.patch.object(backward, name, replacement))
            return self.mutant.trainer(self, tokens, loss_mask)

    def set_wte(self, wte):
        self.params = self.params.with_tensor("model/wte", wte.astype(self.params.dtype))


def _model(m, tokens, past, attention_mask=None):
    return reference.model(m.params, tokens, past, attention_mask)


def _trainer(m, tokens, loss_mask):
    return backward.loss_and_grads(m.params, tokens, loss_mask)


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str
    cite: str
    kills: tuple  # the properties meant to catch it
    patches: dict = field(default_factory=dict)  # reference.gpt2 function name -> replacement
    model: object = _model  # (MutantModel, tokens, past[, attention_mask]) -> (logits, present)
    loss: object = None  # (MutantModel, tokens) -> loss, for mutants with capabilities.loss
    backward_patches: dict = field(default_factory=dict)  # reference.backward function (or constant) name -> replacement
    trainer: object = _trainer  # (MutantModel, tokens, loss_mask) -> (loss, grads), for capabilities.grad
    convert: object = None  # params -> params, applied at load (a broken weight converter)
    capabilities: Capabilities = Capabilities(past=True, set_wte=True, dtypes=("float32",))
    computes_in: str | None = None  # the dtype it really computes in, whatever it declares and is told
    expected: tuple = ()  # an expectation file's entries (expectations.Expected) it is certified with
    reuses_output_buffer: bool = False  # returns views of one buffer that the next call overwrites

    def load(self, params, dtype="float32"):
        params = params.astype(np.dtype(self.computes_in or dtype))
        return MutantModel(self, self.convert(params) if self.convert else params)


MUTANTS = {}
_BUFFERS = {}  # mutant name -> its OutputBuffer


def register(*mutants):
    for m in mutants:
        assert m.name not in MUTANTS, m.name
        MUTANTS[m.name] = m


def mutants_of(subject):
    """The catalog of subject by name: the models' (MUTANTS), or the tokenizers' (mutants/tokenizers.py)."""
    if subject == Subject.TOKENIZER:
        from gpt2_conformance.mutants.tokenizers import TOKENIZER_MUTANTS

        return TOKENIZER_MUTANTS
    return MUTANTS


def __getattr__(name):  # gpt2_conformance.mutants:erf_gelu as a backend spec
    if name in MUTANTS:
        return MUTANTS[name]
    raise AttributeError(name)


from gpt2_conformance.mutants import catalog, decoding, lengths, loopholes, tightness, training  # noqa: E402,F401  registers the catalog

"""Backends that break the protocol in the ways real ones do, for the suite's own tests."""
import os
import time

import numpy as np

from gpt2_conformance.backends import Capabilities, Scope, Unsupported
from gpt2_conformance.backends.adapters.reference import ReferenceModel


class Misbehaving:
    capabilities = Capabilities(past=False, set_wte=True, dtypes=("float64",))

    def __init__(self, name, forward):
        self.name, self._forward = name, forward

    def load(self, params, dtype="float64"):
        model = ReferenceModel(params)
        model.forward = lambda tokens, past=None: self._forward(model, tokens)
        return model


def _hang(model, tokens):
    time.sleep(3600)


def _abort(model, tokens):
    os.abort()  # as llama.cpp's GGML_ASSERT does


def _raise(model, tokens):
    raise ValueError("CUDA error: an illegal memory access was encountered")


def _slow(model, tokens):
    time.sleep(SLOW_SECONDS)
    return ReferenceModel.forward(model, tokens)


SLOW_SECONDS = 0.02


def _wrong_shape(model, tokens):
    logits, _ = ReferenceModel.forward(model, tokens)
    return logits[:, :, :-1], None


def _int_logits(model, tokens):
    logits, _ = ReferenceModel.forward(model, tokens)
    return logits.astype(np.int64), None


def _anything_goes(model, tokens):
    return np.zeros((*np.shape(tokens), 7)), None  # never checks its input (7: the contract probe's n_vocab)


def _bare_logits(model, tokens):
    return ReferenceModel.forward(model, tokens)[0]


def _half_logits(model, tokens):
    return ReferenceModel.forward(model, tokens)[0].astype(np.float16), None


class NoCache(Misbehaving):
    capabilities = Capabilities(past=True, set_wte=True, dtypes=("float64",))


hangs = Misbehaving("hangs", _hang)
aborts = Misbehaving("aborts", _abort)
raises = Misbehaving("raises", _raise)
slow = Misbehaving("slow", _slow)
wrong_shape = Misbehaving("wrong-shape", _wrong_shape)
int_logits = Misbehaving("int-logits", _int_logits)
anything_goes = Misbehaving("anything-goes", _anything_goes)
bare_logits = Misbehaving("bare-logits", _bare_logits)
half_logits = Misbehaving("half-logits", _half_logits)
no_cache = NoCache("no-cache", lambda model, tokens: (ReferenceModel.forward(model, tokens)[0], None))
unnamed = Misbehaving(42, _raise)
dict_capabilities = Misbehaving("dict-capabilities", _raise)
dict_capabilities.capabilities = {"past": False}


class LoadRaises(Misbehaving):
    def load(self, params, dtype="float64"):
        raise MemoryError("out of device memory")


class WritesIntoWeights(Misbehaving):
    """Shifts its embedding in place, in the arrays it is given (as a conversion that forgot to copy)."""

    def load(self, params, dtype="float64"):
        params.tensors["model/wte"] += 1.0
        return super().load(params, dtype)


class DeclinesHeadDim1(Misbehaving):
    """Raises Unsupported for head_dim 1 without declaring it in its scope."""

    def load(self, params, dtype="float64"):
        if params.hparams.head_dim == 1:
            raise Unsupported("no kernel for head_dim 1")
        return super().load(params, dtype)


class NarrowScope(Misbehaving):
    capabilities = Capabilities(past=True, set_wte=True, dtypes=("float64",), scope=Scope(min_head_dim=64))


load_raises = LoadRaises("load-raises", _raise)
writes_into_weights = WritesIntoWeights("writes-into-weights", lambda model, tokens: ReferenceModel.forward(model, tokens))
declines_head_dim_1 = DeclinesHeadDim1("declines-head-dim-1", lambda model, tokens: ReferenceModel.forward(model, tokens))
narrow_scope = NarrowScope("narrow-scope", lambda model, tokens: ReferenceModel.forward(model, tokens))


class HangsWithAChild(Misbehaving):
    """Starts a process of its own (as torch.compile's workers and JAX do), then hangs; writes the
    child's pid where $MISBEHAVING_PID_FILE says."""

    def load(self, params, dtype="float64"):
        import subprocess

        child = subprocess.Popen(["sleep", "3600"])
        with open(os.environ["MISBEHAVING_PID_FILE"], "w") as f:
            f.write(str(child.pid))
        time.sleep(3600)


hangs_with_a_child = HangsWithAChild("hangs-with-a-child", _hang)


class LoadReturnsNone(Misbehaving):
    def load(self, params, dtype="float64"):
        return None  # forgot the return


load_returns_none = LoadReturnsNone("load-returns-none", _raise)


def _renamed(mutant_name, name):
    """A mutant under another name: two backends whose names read alike once made file-safe."""
    from dataclasses import replace

    from gpt2_conformance.mutants import MUTANTS

    return replace(MUTANTS[mutant_name], name=name)


erf_gelu_a_space_b = _renamed("erf_gelu", "a b")
erf_gelu_a_slash_b = _renamed("erf_gelu", "a/b")
markup_name = _renamed("erf_gelu", "x | y\n<b>bold</b>")

"""Upstream sets: the known deviations of a framework (PyTorch, TensorFlow, transformers, ggml) that every
GPT-2 built on it inherits, shipped with the suite in judge/expectations/upstream/<name>.toml.

A set is an expectation file without a `backend`: applied by name (`--expectations torch`), it bounds
its deviations for every backend of the run; a backend's own file may `include` it. Each set says where
the deviation lives (`modules`: the framework's Python modules), the versions its bounds were measured
on, and a probe where its entries cannot find it stale by themselves (docs/expectations.md):

    title = "LayerNorm of width 1"
    cite = "pytorch/pytorch#188375"
    upstream = "https://github.com/pytorch/pytorch/issues/188375"
    modules = ["torch"]
    measured = { torch = "2.13.0" }
    when = "if your model uses torch.nn.LayerNorm"
    probe = "gpt2_conformance.judge.probes:torch_layernorm_width_1"   # optional
    [[expected]] ...
"""
import importlib
import sys
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class UpstreamSet:
    name: str
    title: str  # what deviates, in a few words
    cite: str  # the upstream issue, short (owner/repo#N) or the page that documents the behaviour
    upstream: str  # its URL
    modules: tuple  # the framework's modules: the deviation can only be in a backend that imported them
    measured: tuple  # ((module, version), ...): where the bounds were measured
    when: str  # when a user should apply it
    probe: str | None  # "module:function" -> whether the deviation still shows in the installed framework
    sha256: str

    def loaded(self):
        """Whether this process (a backend's worker) imported the framework the deviation lives in."""
        return all(m in sys.modules for m in self.modules)

    def versions(self):
        """'torch 2.13.0 (installed: torch 2.14.1)': what the bounds were measured on, and what runs here."""
        measured = ", ".join(f"{m} {v}" for m, v in self.measured)
        installed = ", ".join(f"{m} {_version(m)}" for m, _ in self.measured)
        return f"measured on {measured}; installed here: {installed}"

    def record(self):
        """What the certificate says of the set."""
        return {"name": self.name, "title": self.title, "cite": self.cite, "upstream": self.upstream,
                "measured": dict(self.measured), "sha256": self.sha256}

    def stale(self):
        """Why the set no longer applies, or None: its probe, run where its framework is loaded, finds the
        deviation fixed in the installed version."""
        if self.probe is None or not self.loaded() or _reproduces(self.probe):
            return None
        return (f"{self.cite} ({self.title}) no longer reproduces ({self.versions()}): the upstream set "
                f"`{self.name}` is stale; stop applying it")

    def hint(self):
        """What a failure it would bound says of it (expectations.recognise)."""
        return f"{self.cite} ({self.title}): apply `--expectations {self.name}` {self.when}"


def _version(module):
    loaded = sys.modules.get(module)
    return getattr(loaded, "__version__", "?") if loaded else "not loaded"


@cache
def _reproduces(probe):
    module, _, function = probe.partition(":")
    try:
        return bool(getattr(importlib.import_module(module), function)())
    except Exception:  # a probe that cannot run says nothing: the set stays as measured
        return True

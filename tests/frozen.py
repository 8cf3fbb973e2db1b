"""Engines with frozen weights (no set_wte), for the frozen-weights verdict's tests: the reference itself, and the
reference with a real bug (an erf GELU), which must stay not certified."""
from dataclasses import replace

from gpt2_conformance.backends.adapters.reference import ReferenceBackend
from gpt2_conformance.mutants import MUTANTS


class FrozenReference(ReferenceBackend):
    name = "frozen-reference"
    capabilities = replace(ReferenceBackend.capabilities, set_wte=False)


backend = FrozenReference()
erf_gelu = replace(MUTANTS["erf_gelu"], name="frozen-erf-gelu",
                   capabilities=replace(MUTANTS["erf_gelu"].capabilities, set_wte=False))

"""The authority in executable form: GPT-2 as openai/gpt-2 src/model.py defines it, in NumPy."""
from gpt2_conformance.reference.gpt2 import model
from gpt2_conformance.reference.params import HParams, Params, param_shapes

__all__ = ["HParams", "Params", "model", "param_shapes"]

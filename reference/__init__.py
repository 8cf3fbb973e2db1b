"""The authority in executable form: GPT-2 as openai/gpt-2 src/model.py defines it, in NumPy."""
from reference.gpt2 import model
from reference.params import HParams, Params, param_shapes

__all__ = ["HParams", "Params", "model", "param_shapes"]

"""The NumPy reference itself, as a backend: the suite checks the authority by the same properties."""
import numpy as np

from gpt2_conformance import reference
from gpt2_conformance.backends import Capabilities
from gpt2_conformance.reference import backward

REQUIRES = ("numpy",)


class ReferenceModel:
    def __init__(self, params):
        self.params = params

    def forward(self, tokens, past=None, attention_mask=None):
        logits, present = reference.model(self.params, tokens, past, attention_mask)
        return logits, present if past is None else np.concatenate([past, present], axis=-2)

    def loss_and_grads(self, tokens, loss_mask=None):
        return backward.loss_and_grads(self.params, tokens, loss_mask)

    def set_wte(self, wte):
        self.params = self.params.with_tensor("model/wte", wte.astype(self.params.dtype))


class ReferenceBackend:
    name = "reference"
    capabilities = Capabilities(past=True, set_wte=True, dtypes=("float64", "float32"), padding=True, grad=True)

    def load(self, params, dtype="float64"):
        return ReferenceModel(params.astype(np.dtype(dtype)))


backend = ReferenceBackend()

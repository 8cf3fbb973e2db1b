"""transformers 4.x's TFGPT2LMHeadModel and FlaxGPT2LMHeadModel (removed in transformers 5).

Both load a transformers-format directory written by conformance.checkpoints.save_hf with their own
from_pretrained. Install them apart from the main environment (`tox -e hf4`): they need
transformers < 5, and TensorFlow's models need tf-keras (Keras 2).
"""
import os
import tempfile

import numpy as np

from conformance.backends import Capabilities, right_padded
from conformance.checkpoints import save_hf

REQUIRES = ("tf_keras", "flax", "transformers.models.gpt2.modeling_tf_gpt2", "transformers.models.gpt2.modeling_flax_gpt2")


def _from_pretrained(cls, params):
    with tempfile.TemporaryDirectory() as path:
        save_hf(params, path)
        return cls.from_pretrained(path)


class TFModel:
    def __init__(self, model):
        self.model = model

    def forward(self, tokens, past=None):
        out = self.model(tokens, past_key_values=past, use_cache=True, training=False)
        return out.logits.numpy(), out.past_key_values

    def set_wte(self, wte):
        self.model.transformer.wte.embeddings.assign(wte.astype(np.float32))


class HFTensorFlow:
    name = "hf-tf"
    capabilities = Capabilities(past=True, set_wte=True, dtypes=("float32",))

    def load(self, params, dtype="float32"):
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        import tensorflow as tf
        from safetensors.numpy import load_file
        from transformers import GPT2Config, TFGPT2LMHeadModel
        from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

        # transformers' own PyTorch-to-TF converter, given the state dict as a dict: its from_pretrained
        # hands it the lazy safetensors archive instead, which it iterates, and safetensors 0.7 and 0.8
        # do not let it (TypeError: 'builtins.safe_open' object is not iterable; transformers 4.57.6).
        with tempfile.TemporaryDirectory() as path:
            save_hf(params, path)
            config, state = GPT2Config.from_pretrained(path), load_file(os.path.join(path, "model.safetensors"))
        model = TFGPT2LMHeadModel(config)
        # built on one token: its default dummy inputs are two tokens long, past a model with n_ctx 1
        load_pytorch_state_dict_in_tf2_model(model, state, tf_inputs={"input_ids": tf.constant([[0]])})
        return TFModel(model)


class FlaxModel:
    """JAX compiles every op afresh for each new input shape (seconds, measured), so the tokens go in
    right-padded to n_ctx and a batch of at least 4 (backends.right_padded): the causal mask keeps the padding out of
    every real token's logits (causal_masking checks exactly that), and architectures come from the
    fixed pool (compiles_per_architecture)."""

    def __init__(self, model, n_ctx):
        self.model, self.n_ctx = model, n_ctx
        self.params = model.params

    def forward(self, tokens, past=None):
        batch, seq = tokens.shape
        logits = self.model(right_padded(tokens, self.n_ctx), params=self.params).logits
        return np.asarray(logits)[:batch, :seq], None

    def set_wte(self, wte):
        self.params = {**self.params, "transformer": {**self.params["transformer"],
                                                      "wte": {"embedding": wte.astype(np.float32)}}}


class HFFlax:
    name = "hf-flax"
    capabilities = Capabilities(past=False, set_wte=True, dtypes=("float32",), compiles_per_architecture=True)

    def load(self, params, dtype="float32"):
        from transformers import FlaxGPT2LMHeadModel

        return FlaxModel(_from_pretrained(FlaxGPT2LMHeadModel, params), params.hparams.n_ctx)


tf = HFTensorFlow()
flax = HFFlax()

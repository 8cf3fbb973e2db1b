"""Keras Hub's GPT2CausalLM on each Keras 3 engine (TensorFlow, JAX, torch).

Weights go in through Keras Hub's own Hugging Face converter (`GPT2Backbone.from_preset` on a
transformers-format directory written by conformance.checkpoints.save_hf). Keras fixes its engine
once per process from KERAS_BACKEND when it is first imported, so each engine needs a process of
its own: `certify` gives every backend its own worker; in one process, the first engine loaded wins
and the others say so.

Without past, logits come from the model's plain call; with past, from `call_with_cache`, the
path `generate` decodes with (a cache preallocated to n_ctx, filled by Keras Hub itself).

On JAX every op compiles afresh for each new input shape (5-6 s per new (batch, length), measured on
2 cores), so there the plain call takes the tokens right-padded to n_ctx and a batch of at least 4,
with a padding mask, as Keras Hub's preprocessor pads to its sequence_length; the causal mask keeps
the padding out of every real token's logits (causal_masking checks exactly that), and the backend
draws its architectures from the fixed pool (compiles_per_architecture).
"""
import os
import sys
import tempfile
from dataclasses import replace

import numpy as np

from conformance.backends import Capabilities, right_padded
from conformance.checkpoints import save_hf

REQUIRES = ("keras", "keras_hub")


class KerasCache:
    """Tokens seen so far, and Keras Hub's own cache of them once it has been filled."""

    def __init__(self, tokens, cache=None):
        self.tokens, self.cache = tokens, cache


class KerasHubModel:
    def __init__(self, lm, n_ctx, pad):
        self.lm, self.n_ctx, self.pad = lm, n_ctx, pad

    def forward(self, tokens, past=None):
        from keras import ops

        if past is None:
            batch, seq = tokens.shape
            # right padding, as Keras Hub's own preprocessor pads to its sequence_length
            padded = right_padded(tokens, self.n_ctx) if self.pad else tokens
            mask = np.zeros(padded.shape, bool)
            mask[:batch, :seq] = True
            logits = self.lm({"token_ids": padded, "padding_mask": mask}, training=False)
            return ops.convert_to_numpy(logits)[:batch, :seq], KerasCache(tokens)
        cache = past.cache if past.cache is not None else self._prefill(past.tokens)
        logits, _, cache = self.lm.call_with_cache(ops.convert_to_tensor(tokens), cache, past.tokens.shape[1])
        seen = np.concatenate([past.tokens, tokens], axis=1)
        return ops.convert_to_numpy(logits), KerasCache(seen, cache)

    def _prefill(self, tokens):
        from keras import ops

        backbone = self.lm.backbone
        shape = (tokens.shape[0], backbone.num_layers, 2, self.n_ctx, backbone.num_heads,
                 backbone.hidden_dim // backbone.num_heads)
        _, _, cache = self.lm.call_with_cache(ops.convert_to_tensor(tokens), ops.zeros(shape), 0)
        return cache

    def set_wte(self, wte):
        self.lm.backbone.token_embedding.embeddings.assign(wte.astype(np.float32))


class KerasHub:
    capabilities = Capabilities(past=True, set_wte=True, dtypes=("float32",))

    def __init__(self, engine):
        self.engine = engine
        self.name = f"keras-hub-{ {'tensorflow': 'tf'}.get(engine, engine)}"
        self.capabilities = replace(KerasHub.capabilities, compiles_per_architecture=engine == "jax")

    def load(self, params, dtype="float32"):
        if "keras" not in sys.modules:
            os.environ["KERAS_BACKEND"] = self.engine
        import keras

        if keras.config.backend() != self.engine:
            raise RuntimeError(f"Keras runs the {keras.config.backend()} engine in this process; {self.name} needs "
                               f"a process of its own started with KERAS_BACKEND={self.engine}")
        import keras_hub

        with tempfile.TemporaryDirectory() as path:
            save_hf(params, path)
            backbone = keras_hub.models.GPT2Backbone.from_preset(path, dtype=dtype)
        lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
        return KerasHubModel(lm, params.hparams.n_ctx, pad=self.engine == "jax")


tf = KerasHub("tensorflow")
jax = KerasHub("jax")
torch = KerasHub("torch")

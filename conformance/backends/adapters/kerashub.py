"""Keras Hub's GPT2CausalLM on each Keras 3 engine (TensorFlow, JAX, torch).

Weights go in through Keras Hub's own Hugging Face converter (`GPT2Backbone.from_preset` on a
transformers-format directory written by gpt2_conformance.cases.checkpoints.save_hf). Keras fixes its engine
once per process from KERAS_BACKEND when it is first imported, so each engine needs a process of
its own: `certify` gives every backend its own worker; in one process, the first engine loaded wins
and the others say so.

Without past, logits come from the model's plain call; with past, from `call_with_cache`, the
path `generate` decodes with (a cache preallocated to n_ctx, filled by Keras Hub itself). Gradients
differentiate the plain call with the engine's own autodiff (tf.GradientTape, jax.value_and_grad over
stateless_call, torch's backward), mapped back through Keras Hub's own converter inverted.

On JAX every op compiles afresh for each new input shape (seconds each, docs/backends.md), so there
the plain call takes the tokens right-padded to n_ctx and a batch of at least 4, with a padding mask,
as Keras Hub's preprocessor pads to its sequence_length; the causal mask keeps the padding out of every
real token's logits (causal_masking checks exactly that), and the backend draws its architectures from
the fixed pool (compiles_per_architecture).
"""
import os
import sys
import tempfile
from dataclasses import replace

import numpy as np

from gpt2_conformance.backends import Capabilities, padded_loss_weight, right_padded
from gpt2_conformance.cases.checkpoints import save_hf

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
            logits = self.lm(self._inputs(tokens), training=False)
            return ops.convert_to_numpy(logits)[:batch, :seq], KerasCache(tokens)
        cache = past.cache if past.cache is not None else self._prefill(past.tokens)
        logits, _, cache = self.lm.call_with_cache(ops.convert_to_tensor(tokens), cache, past.tokens.shape[1])
        seen = np.concatenate([past.tokens, tokens], axis=1)
        return ops.convert_to_numpy(logits), KerasCache(seen, cache)

    def loss_and_grads(self, tokens, loss_mask=None):
        """The masked mean next-token cross-entropy of the plain call's logits (lm_loss) and the engine's own
        gradient of it for every Keras variable, under the official names (official_gradients). The head is
        the token embedding reversed (ReversibleEmbedding), so wte's gradient holds both paths. On JAX the
        inputs are padded as in forward: the padding's predictions get weight 0, and under the causal mask
        the real tokens' logits never see it."""
        import keras

        inputs = self._inputs(tokens)
        padded = inputs["token_ids"]
        weight = padded_loss_weight(tokens, padded, loss_mask)
        loss, grads = _AUTODIFF[keras.config.backend()](self.lm, inputs, padded[:, 1:], weight)
        return loss, official_gradients(self.lm.backbone, grads)

    def _inputs(self, tokens):
        """The plain call's inputs: on JAX the tokens right-padded, as Keras Hub's own preprocessor pads to its
        sequence_length, with a padding mask that marks the real ones."""
        batch, seq = tokens.shape
        padded = right_padded(tokens, self.n_ctx) if self.pad else tokens
        mask = np.zeros(padded.shape, bool)
        mask[:batch, :seq] = True
        return {"token_ids": padded, "padding_mask": mask}

    def _prefill(self, tokens):
        from keras import ops

        backbone = self.lm.backbone
        shape = (tokens.shape[0], backbone.num_layers, 2, self.n_ctx, backbone.num_heads,
                 backbone.hidden_dim // backbone.num_heads)
        _, _, cache = self.lm.call_with_cache(ops.convert_to_tensor(tokens), ops.zeros(shape), 0)
        return cache

    def set_wte(self, wte):
        self.lm.backbone.token_embedding.embeddings.assign(wte.astype(np.float32))


def lm_loss(logits, labels, weight):
    """The mean next-token cross-entropy over the predictions weight selects, as
    reference.backward.lm_loss_and_backward defines it, in keras.ops (differentiable on every engine):
    logits [batch, seq, n_vocab] (position t predicts token t + 1), labels [batch, seq - 1], weight 0/1
    [batch, seq - 1]."""
    from keras import ops

    weight = ops.convert_to_tensor(weight)  # a NumPy operand would pull torch's tensor out of the graph
    nll = ops.sparse_categorical_crossentropy(labels, logits[:, :-1], from_logits=True)
    return ops.sum(nll * weight) / ops.sum(weight)


def _tensorflow_autodiff(lm, inputs, labels, weight):
    """(loss, {variable path: gradient}) by tf.GradientTape."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = lm_loss(lm(inputs, training=False), labels, weight)
    grads = tape.gradient(loss, lm.trainable_variables)
    # the embedding's gather gives IndexedSlices, summed with the head's dense gradient when made dense
    return float(loss), {v.path: tf.convert_to_tensor(g).numpy() for v, g in zip(lm.trainable_variables, grads)}


def _jax_autodiff(lm, inputs, labels, weight):
    """(loss, {variable path: gradient}) by jax.value_and_grad over the trainable variables' values, through
    the model's pure stateless_call."""
    import jax

    non_trainable = [v.value for v in lm.non_trainable_variables]

    def loss_of(trainable):
        logits, _ = lm.stateless_call(trainable, non_trainable, inputs, training=False)
        return lm_loss(logits, labels, weight)

    loss, grads = jax.value_and_grad(loss_of)([v.value for v in lm.trainable_variables])
    return float(loss), {v.path: np.asarray(g) for v, g in zip(lm.trainable_variables, grads)}


def _torch_autodiff(lm, inputs, labels, weight):
    """(loss, {variable path: gradient}) by loss.backward(): on torch the variables' values are torch parameters."""
    import torch

    for v in lm.trainable_variables:
        v.value.grad = None
    with torch.enable_grad():
        loss = lm_loss(lm(inputs, training=False), labels, weight)
        loss.backward()
    return loss.item(), {v.path: v.value.grad.cpu().numpy() for v in lm.trainable_variables}


_AUTODIFF = {"tensorflow": _tensorflow_autodiff, "jax": _jax_autodiff, "torch": _torch_autodiff}


def official_gradients(backbone, grads):
    """{official name: gradient} from grads, {Keras variable path: gradient}: Keras Hub's Hugging Face
    converter (keras_hub/src/utils/transformers/convert_gpt2.py) inverted. It splits c_attn [n_embd, 3 n_embd]
    into query, key and value kernels [n_embd, n_head, head_dim] and biases [n_head, head_dim], and
    reshapes c_proj into the attention output kernel [n_head, head_dim, n_embd]; the other tensors keep
    their shapes (Dense kernels are the Conv1D [nx, nf], without the leading 1)."""
    n = backbone.hidden_dim

    def grad(variable, shape=None):
        g = grads[variable.path]
        return g if shape is None else g.reshape(shape)

    def norm(name, layer):
        return {f"{name}/g": grad(layer.gamma), f"{name}/b": grad(layer.beta)}

    def dense(name, layer):
        return {f"{name}/w": grad(layer.kernel)[None], f"{name}/b": grad(layer.bias)}

    out = {"model/wte": grad(backbone.token_embedding.embeddings),
           "model/wpe": grad(backbone.position_embedding.position_embeddings),
           **norm("model/ln_f", backbone.layer_norm)}
    for i, layer in enumerate(backbone.transformer_layers):
        h, attn = f"model/h{i}", layer._self_attention_layer
        qkv = (attn.query_dense, attn.key_dense, attn.value_dense)
        out |= {f"{h}/attn/c_attn/w": np.concatenate([grad(d.kernel, (n, n)) for d in qkv], axis=-1)[None],
                f"{h}/attn/c_attn/b": np.concatenate([grad(d.bias, (n,)) for d in qkv]),
                f"{h}/attn/c_proj/w": grad(attn.output_dense.kernel, (1, n, n)),
                f"{h}/attn/c_proj/b": grad(attn.output_dense.bias),
                **norm(f"{h}/ln_1", layer._self_attention_layer_norm),
                **norm(f"{h}/ln_2", layer._feedforward_layer_norm),
                **dense(f"{h}/mlp/c_fc", layer._feedforward_intermediate_dense),
                **dense(f"{h}/mlp/c_proj", layer._feedforward_output_dense)}
    return out


class KerasHub:
    capabilities = Capabilities(past=True, set_wte=True, dtypes=("float32",), grad=True)

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

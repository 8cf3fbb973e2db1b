"""transformers 4.x's TFGPT2LMHeadModel and FlaxGPT2LMHeadModel (removed in transformers 5).

Both load a transformers-format directory written by gpt2_conformance.cases.checkpoints.save_hf with their own
from_pretrained. Install them apart from the main environment (`tox -e hf4`): they need
transformers < 5, and TensorFlow's models need tf-keras (Keras 2). Gradients come from each library's
own autodiff (tf.GradientTape, jax.value_and_grad), mapped back to the official names.
"""
import os
import tempfile

import numpy as np

from gpt2_conformance.backends import Capabilities, padded_loss_weight, right_padded
from gpt2_conformance.cases.checkpoints import hf_names, save_hf

REQUIRES = ("tf_keras", "flax", "transformers.models.gpt2.modeling_tf_gpt2", "transformers.models.gpt2.modeling_flax_gpt2")


def _from_pretrained(cls, params):
    with tempfile.TemporaryDirectory() as path:
        save_hf(params, path)
        return cls.from_pretrained(path)


class TFModel:
    def __init__(self, model, hparams):
        self.model = model
        self.official = {hf: name for name, hf in hf_names(hparams).items()}  # PyTorch state-dict name -> official

    def forward(self, tokens, past=None):
        out = self.model(tokens, past_key_values=past, use_cache=True, training=False)
        return out.logits.numpy(), out.past_key_values

    def loss_and_grads(self, tokens, loss_mask=None):
        """transformers' own loss (labels shifted inside, -100 where loss_mask leaves a prediction out) and
        tf.GradientTape's gradient of every trainable variable. The head is wte's embedding matrix itself
        (TFSharedEmbeddings in "linear" mode), so its gradient holds both paths."""
        import tensorflow as tf

        labels = tokens.copy()
        if loss_mask is not None:
            labels[:, 1:][loss_mask == 0] = -100
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss = tf.reshape(self.model(tokens, labels=labels, use_cache=False, training=False).loss, ())
        # wte's gradient: the gather's IndexedSlices and the head's dense part, summed when made dense
        grads = {self._official_name(v): tf.convert_to_tensor(g).numpy()
                 for v, g in zip(variables, tape.gradient(loss, variables))}
        return float(loss), {name: _official_shape(name, g) for name, g in grads.items()}

    def _official_name(self, variable):
        """'tfgpt2lm_head_model/transformer/h_._0/ln_1/gamma:0' -> 'model/h0/ln_1/g', by transformers' own
        TF-to-PyTorch name converter (the one its weight loading uses)."""
        from transformers.modeling_tf_pytorch_utils import convert_tf_weight_name_to_pt_weight_name

        name, _ = convert_tf_weight_name_to_pt_weight_name(variable.name, tf_weight_shape=variable.shape)
        return self.official[name.removeprefix("transformer.")]

    def set_wte(self, wte):
        self.model.transformer.wte.embeddings.assign(wte.astype(np.float32))


class HFTensorFlow:
    name = "hf-tf"
    capabilities = Capabilities(past=True, set_wte=True, dtypes=("float32",), grad=True)

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
        return TFModel(model, params.hparams)


def _official_shape(name, grad):
    """TF's Conv1D weight [nx, nf] (as PyTorch's) -> the official [1, nx, nf]; its bias [1, nf] -> [nf]."""
    if name.endswith("/w"):
        return grad[None]
    return grad.reshape(-1) if name.endswith("/b") else grad


class FlaxModel:
    """JAX compiles every op afresh for each new input shape (seconds each), so the tokens go in
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

    def loss_and_grads(self, tokens, loss_mask=None):
        """The mean next-token cross-entropy of the predictions loss_mask selects, from the logits of the
        right-padded tokens (as forward), and jax.value_and_grad's gradient of it over the params tree. The
        padding's predictions get weight 0, and under the causal mask the real tokens' logits never see it.
        The head is wte's embedding transposed, so its gradient holds both paths."""
        import jax

        padded = right_padded(tokens, self.n_ctx)
        weight = padded_loss_weight(tokens, padded, loss_mask)

        def loss_of(params):
            logits = self.model(padded, params=params).logits[:, :-1]
            log_p = jax.numpy.take_along_axis(jax.nn.log_softmax(logits), padded[:, 1:, None], axis=-1)[..., 0]
            return -(log_p * weight).sum() / weight.sum()

        loss, grads = jax.value_and_grad(loss_of)(self.params)
        return float(loss), _flax_official(grads["transformer"], self.model.config.n_layer)

    def set_wte(self, wte):
        self.params = {**self.params, "transformer": {**self.params["transformer"],
                                                      "wte": {"embedding": wte.astype(np.float32)}}}


def _flax_official(t, n_layer):
    """{official name: array} from the "transformer" subtree of a Flax GPT-2 params tree (or of its gradient)."""
    def norm(name, p):
        return {f"{name}/g": np.asarray(p["scale"]), f"{name}/b": np.asarray(p["bias"])}

    def conv1d(name, p):  # Flax keeps a Conv1D kernel as [nf, nx] and transposes it in its call
        return {f"{name}/w": np.asarray(p["kernel"]).T[None], f"{name}/b": np.asarray(p["bias"])}

    out = {"model/wte": np.asarray(t["wte"]["embedding"]), "model/wpe": np.asarray(t["wpe"]["embedding"]),
           **norm("model/ln_f", t["ln_f"])}
    for i in range(n_layer):
        h, name = t["h"][str(i)], f"model/h{i}"
        out |= {**norm(f"{name}/ln_1", h["ln_1"]), **norm(f"{name}/ln_2", h["ln_2"]),
                **conv1d(f"{name}/attn/c_attn", h["attn"]["c_attn"]),
                **conv1d(f"{name}/attn/c_proj", h["attn"]["c_proj"]),
                **conv1d(f"{name}/mlp/c_fc", h["mlp"]["c_fc"]), **conv1d(f"{name}/mlp/c_proj", h["mlp"]["c_proj"])}
    return out


class HFFlax:
    name = "hf-flax"
    capabilities = Capabilities(past=False, set_wte=True, dtypes=("float32",), compiles_per_architecture=True,
                                grad=True)

    def load(self, params, dtype="float32"):
        from transformers import FlaxGPT2LMHeadModel

        return FlaxModel(_from_pretrained(FlaxGPT2LMHeadModel, params), params.hparams.n_ctx)


tf = HFTensorFlow()
flax = HFFlax()

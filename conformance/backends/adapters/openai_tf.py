"""GPT-2 in TensorFlow 2, op for op after openai/gpt-2 src/model.py (written here, not copied).

The official ops, in the official order: tanh GELU with tf.pow, norm with rsqrt and population
variance, Conv1D as reshape-matmul on [1, nx, nf] weights, scores scaled by rsqrt(head_dim), the mask
`w*b - 1e10*(1-b)` aligned from the lower right, present/past [batch, n_layer, 2, n_head, seq, head_dim],
logits by matmul(h, wte, transpose_b=True).

The forward pass is one tf.function per n_layer whose signature leaves every size open (None), with the
weights passed in as arguments: a new config or sequence length reuses the graph instead of retracing,
which takes seconds, where a tf.function per model would retrace per example (docs/backends.md).
The weights live in tf.Variables, so set_wte assigns the live embedding that the tied head reads.
"""
import os

import numpy as np

from gpt2_conformance.backends import Capabilities
from gpt2_conformance.reference.params import LAYER_SHAPES

REQUIRES = ("tensorflow",)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _graph(tf):
    def gelu(x):
        return 0.5 * x * (1 + tf.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * tf.pow(x, 3))))

    def norm(x, g, b, epsilon=1e-5):
        u = tf.reduce_mean(x, axis=-1, keepdims=True)
        s = tf.reduce_mean(tf.square(x - u), axis=-1, keepdims=True)
        return (x - u) * tf.math.rsqrt(s + epsilon) * g + b

    def conv1d(x, w, b):
        start, nx, nf = tf.shape(x)[:-1], tf.shape(w)[1], tf.shape(w)[2]
        c = tf.matmul(tf.reshape(x, [-1, nx]), tf.reshape(w, [-1, nf])) + b
        return tf.reshape(c, tf.concat([start, [nf]], axis=0))

    def split_heads(x, n_head):  # [batch, seq, features] -> [batch, heads, seq, features/heads]
        s = tf.shape(x)
        return tf.transpose(tf.reshape(x, [s[0], s[1], n_head, s[2] // n_head]), [0, 2, 1, 3])

    def merge_heads(x):
        x = tf.transpose(x, [0, 2, 1, 3])
        s = tf.shape(x)
        return tf.reshape(x, [s[0], s[1], s[2] * s[3]])

    def attention_mask(nd, ns, dtype):
        i = tf.range(nd)[:, None]
        j = tf.range(ns)
        return tf.cast(i >= j - ns + nd, dtype)

    def mask_attn_weights(w):
        nd, ns = tf.shape(w)[2], tf.shape(w)[3]
        b = tf.reshape(attention_mask(nd, ns, w.dtype), [1, 1, nd, ns])
        return w * b - tf.cast(1e10, w.dtype) * (1 - b)

    def softmax(x):
        x = x - tf.reduce_max(x, axis=-1, keepdims=True)
        ex = tf.exp(x)
        return ex / tf.reduce_sum(ex, axis=-1, keepdims=True)

    def attn(x, p, n_head, past):
        c = conv1d(x, p["attn/c_attn/w"], p["attn/c_attn/b"])
        q, k, v = (split_heads(part, n_head) for part in tf.split(c, 3, axis=2))
        present = tf.stack([k, v], axis=1)
        pk, pv = tf.unstack(past, axis=1)
        k = tf.concat([pk, k], axis=-2)
        v = tf.concat([pv, v], axis=-2)
        w = tf.matmul(q, k, transpose_b=True)
        w = w * tf.math.rsqrt(tf.cast(tf.shape(v)[-1], w.dtype))
        a = merge_heads(tf.matmul(softmax(mask_attn_weights(w)), v))
        return conv1d(a, p["attn/c_proj/w"], p["attn/c_proj/b"]), present

    def block(x, p, n_head, past):
        a, present = attn(norm(x, p["ln_1/g"], p["ln_1/b"]), p, n_head, past)
        x = x + a
        h = gelu(conv1d(norm(x, p["ln_2/g"], p["ln_2/b"]), p["mlp/c_fc/w"], p["mlp/c_fc/b"]))
        return x + conv1d(h, p["mlp/c_proj/w"], p["mlp/c_proj/b"]), present

    def model(weights, tokens, past, n_head):
        """past always given ([.., 0, ..] for none): concatenating an empty past is exact."""
        wte, wpe = weights["wte"], weights["wpe"]
        past_length = tf.shape(past)[-2]
        positions = past_length + tf.range(tf.shape(tokens)[1])
        h = tf.gather(wte, tokens) + tf.gather(wpe, positions)[None]
        presents = []
        for p, layer_past in zip(weights["layers"], tf.unstack(past, axis=1)):
            h, present = block(h, p, n_head, layer_past)
            presents.append(present)
        h = norm(h, weights["ln_f/g"], weights["ln_f/b"])
        s = tf.shape(h)
        logits = tf.matmul(tf.reshape(h, [s[0] * s[1], s[2]]), wte, transpose_b=True)
        return tf.reshape(logits, [s[0], s[1], tf.shape(wte)[0]]), tf.stack(presents, axis=1)

    return model


_FORWARD = {}  # (n_layer, dtype) -> tf.function


def _forward(tf, n_layer, dtype):
    key = (n_layer, dtype)
    if key not in _FORWARD:
        def spec(ndim):
            return tf.TensorSpec([None] * ndim, dtype)

        weights = {"wte": spec(2), "wpe": spec(2), "ln_f/g": spec(1), "ln_f/b": spec(1),
                   "layers": [{name: spec(len(shape(1))) for name, shape in LAYER_SHAPES.items()} for _ in range(n_layer)]}
        past = tf.TensorSpec([None, n_layer, 2, None, None, None], dtype)
        signature = [weights, tf.TensorSpec([None, None], tf.int32), past, tf.TensorSpec([], tf.int32)]
        _FORWARD[key] = tf.function(_graph(tf), input_signature=signature, autograph=False)
    return _FORWARD[key]


class OpenAITFModel:
    def __init__(self, params, dtype, tf):
        self.tf, self.hparams = tf, params.hparams
        t = {k: tf.Variable(v.astype(dtype), name=k.replace("/", "_")) for k, v in params.tensors.items()}
        self.variables = t  # by official name
        self.weights = {
            "wte": t["model/wte"], "wpe": t["model/wpe"], "ln_f/g": t["model/ln_f/g"], "ln_f/b": t["model/ln_f/b"],
            "layers": [{name: t[f"model/h{i}/{name}"] for name in LAYER_SHAPES} for i in range(self.hparams.n_layer)],
        }
        self.dtype = dtype
        self.fn = _forward(tf, self.hparams.n_layer, tf.as_dtype(dtype))

    def forward(self, tokens, past=None):
        hp = self.hparams
        if past is None:
            past = np.zeros((tokens.shape[0], hp.n_layer, 2, hp.n_head, 0, hp.head_dim), self.dtype)
        logits, present = self.fn(self.weights, self.tf.constant(tokens, self.tf.int32), past, self.tf.constant(hp.n_head))
        present = present.numpy()
        return logits.numpy(), np.concatenate([past, present], axis=-2)  # as sample.py accumulates past

    def loss_and_grads(self, tokens, loss_mask=None):
        """The mean cross-entropy of the predictions loss_mask selects, and tf.GradientTape's gradient of it
        through the same graph, for every variable. wte is one variable for the gather and the head, so its
        gradient holds both paths (the gather's as IndexedSlices, summed in when made dense)."""
        tf, hp = self.tf, self.hparams
        past = np.zeros((tokens.shape[0], hp.n_layer, 2, hp.n_head, 0, hp.head_dim), self.dtype)
        weight = tf.constant(np.ones((tokens.shape[0], tokens.shape[1] - 1)) if loss_mask is None else loss_mask,
                             self.dtype)
        with tf.GradientTape() as tape:
            logits, _ = self.fn(self.weights, tf.constant(tokens, tf.int32), past, tf.constant(hp.n_head))
            nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tokens[:, 1:], logits=logits[:, :-1])
            loss = tf.reduce_sum(nll * weight) / tf.reduce_sum(weight)
        grads = tape.gradient(loss, self.variables)
        return float(loss), {name: tf.convert_to_tensor(g).numpy() for name, g in grads.items()}

    def set_wte(self, wte):
        self.weights["wte"].assign(wte.astype(self.dtype))


class OpenAITF:
    name = "openai-tf"
    capabilities = Capabilities(past=True, set_wte=True, dtypes=("float32", "float64"), grad=True)

    def load(self, params, dtype="float32"):
        import tensorflow as tf

        return OpenAITFModel(params, np.dtype(dtype), tf)


backend = OpenAITF()

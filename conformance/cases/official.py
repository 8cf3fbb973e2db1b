"""Runs OpenAI's genuine, unmodified src/model.py on one checkpoint directory (in a process of its own).

    python -m gpt2_conformance.cases.official SRC CHECKPOINT_DIR INPUTS.npz OUT.npz

SRC is the src/ folder of a clone of openai/gpt-2. model.py was written for TensorFlow 1; it runs
unchanged under TensorFlow 2's compat.v1 API given two shims around it, which are ours:
- `import tensorflow as tf` must give the v1 API (tf.variable_scope, tf.get_variable, tf.rsqrt), and
  `tensorflow.contrib.training.HParams` must exist (contrib is gone from TF 2);
- graph mode with TF1 tensor shapes, since model.py reads `x.shape[-1].value`.
The checkpoint is restored with tf.compat.v1.train.Saver, exactly as the official sample scripts do,
and decoding goes as sample.py's: a prefill, then one token at a time through `past`, each step's
present concatenated onto past along the sequence axis.

INPUTS.npz holds `tokens` [batch, seq] and `continuation` [batch, steps] (steps may be 0); OUT.npz
gets `logits` [batch, seq, n_vocab] and `continuation_logits` [batch, steps, n_vocab].
"""
import json
import os
import sys
import types

import numpy as np


class HParams:
    """The part of tf.contrib.training.HParams that the official code uses."""

    def __init__(self, **values):
        self.__dict__.update(values)

    def override_from_dict(self, values):
        self.__dict__.update(values)
        return self


def install_shims():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow

    v1 = tensorflow.compat.v1
    v1.disable_eager_execution()
    v1.disable_v2_tensorshape()
    contrib = types.ModuleType("tensorflow.contrib")
    training = types.ModuleType("tensorflow.contrib.training")
    training.HParams = HParams
    contrib.training = training
    sys.modules.update({"tensorflow": v1, "tensorflow.contrib": contrib, "tensorflow.contrib.training": training})
    return v1


def run(src, checkpoint_dir, tokens, continuation):
    tf = install_shims()
    sys.path.insert(0, str(src))
    import model  # the official src/model.py, unmodified

    hparams = model.default_hparams()
    with open(os.path.join(checkpoint_dir, "hparams.json")) as f:
        hparams.override_from_dict(json.load(f))
    batch = tokens.shape[0]
    with tf.Session(graph=tf.Graph()) as sess:
        context = tf.placeholder(tf.int32, [batch, None])
        past = tf.placeholder(tf.float32, model.past_shape(hparams=hparams, batch_size=batch))
        prefill = model.model(hparams=hparams, X=context, reuse=tf.AUTO_REUSE)
        step = model.model(hparams=hparams, X=context, past=past, reuse=tf.AUTO_REUSE)
        tf.train.Saver().restore(sess, tf.train.latest_checkpoint(checkpoint_dir))
        out = sess.run(prefill, {context: tokens})
        rows, cache = [out["logits"]], out["present"]
        for i in range(continuation.shape[1]):
            out = sess.run(step, {context: continuation[:, i:i + 1], past: cache})
            cache = np.concatenate([cache, out["present"]], axis=-2)
            rows.append(out["logits"])
    return {"logits": rows[0], "continuation_logits": np.concatenate(rows[1:] or [rows[0][:, :0]], axis=1)}


def main(src, checkpoint_dir, inputs_path, out_path):
    inputs = np.load(inputs_path)
    np.savez(out_path, **run(src, checkpoint_dir, inputs["tokens"], inputs["continuation"]))


if __name__ == "__main__":
    main(*sys.argv[1:])

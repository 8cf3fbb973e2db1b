"""Keras Hub's GPT-2 tokenizer (`keras_hub.tokenizers.GPT2Tokenizer`) from the vocabulary's encoder and merges, with
no download.

Keras Hub's byte-pair tokenizer has two paths. Called eagerly, as `tokenizer(text)` and
`tokenizer.detokenize(ids)`, it runs its Python workflow, a Hugging Face `tokenizers` BPE model behind a
pre-tokenizer of its own (`backend`, bundled as keras-hub). Traced in a `tf.function` or a `tf.data` pipeline,
it runs its TensorFlow workflow, tf-text's regex split with a marker character standing in for GPT-2's
lookahead and a BPE loop in TensorFlow ops (`tf_text`, the same tokenizer inside one `tf.function` each
for encode and decode; the TensorFlow path returns bytes, decoded with errors='replace' as encoder.py does).

GPT2Tokenizer registers <|endoftext|> as an unsplittable token, so that a text's <|endoftext|> becomes id
50256. It takes `unsplittable_tokens`, a documented argument of its base class: an empty list makes
<|endoftext|> text, as in OpenAI's encoder.py, which is the policy declared. GPT2Tokenizer refuses a
vocabulary without <|endoftext|> (it looks its special token up), so a small drawn vocabulary is loaded
into that base class, `keras_hub.tokenizers.BytePairTokenizer`, which GPT2Tokenizer is but for that check.
"""
from gpt2_conformance.backends.tokenizer import TokenizerCapabilities
from gpt2_conformance.reference.vocab import END_OF_TEXT

REQUIRES = ("keras", "keras_hub")


def keras_hub_tokenizer(vocab):
    """GPT2Tokenizer of the vocabulary (BytePairTokenizer if it lacks <|endoftext|>), <|endoftext|> as text."""
    import keras_hub

    cls = keras_hub.tokenizers.GPT2Tokenizer if END_OF_TEXT in vocab.encoder else keras_hub.tokenizers.BytePairTokenizer
    return cls(vocabulary=vocab.encoder, merges=[f"{a} {b}" for a, b in vocab.merges], unsplittable_tokens=[])


class KerasHubTokenizer:
    """The tokenizer called eagerly: Keras Hub's Python workflow."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def encode(self, text):
        return self.tokenizer(text).tolist()

    def decode(self, ids):
        return self.tokenizer.detokenize(ids)


class KerasHubTFTokenizer:
    """The tokenizer traced in a tf.function: Keras Hub's TensorFlow (tf-text) workflow."""

    def __init__(self, tokenizer):
        import tensorflow as tf

        self.tokenize = tf.function(tokenizer.tokenize, input_signature=[tf.TensorSpec([], tf.string)])
        self.detokenize = tf.function(tokenizer.detokenize, input_signature=[tf.TensorSpec([None], tf.int32)])

    def encode(self, text):
        return self.tokenize(text).numpy().tolist()

    def decode(self, ids):
        return self.detokenize(ids).numpy().decode("utf-8", errors="replace")


class KerasHubBackend:
    capabilities = TokenizerCapabilities(special_text="text")

    def __init__(self, name, wrapper):
        self.name, self.wrapper = name, wrapper

    def load(self, vocab):
        return self.wrapper(keras_hub_tokenizer(vocab))


backend = KerasHubBackend("keras-hub", KerasHubTokenizer)
tf_text = KerasHubBackend("keras-hub-tf-text", KerasHubTFTokenizer)

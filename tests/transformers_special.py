"""transformers' GPT-2 tokenizer with its defaults: a text's <|endoftext|> is the special token 50256, the
policy it declares ("special"), so that its verdict names it."""
from gpt2_conformance.backends.adapters.tok_transformers import TransformersGPT2Backend
from gpt2_conformance.backends.tokenizer import TokenizerCapabilities


class DefaultTransformersGPT2(TransformersGPT2Backend):
    name = "transformers-gpt2-default"
    capabilities = TokenizerCapabilities(special_text="special")
    options = {}


backend = DefaultTransformersGPT2()

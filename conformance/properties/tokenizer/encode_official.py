from gpt2_conformance.backends import Subject
from gpt2_conformance.cases import text
from gpt2_conformance.properties import prop
from gpt2_conformance.properties.tokenizer import compared, each, shown
from gpt2_conformance.reference import bpe


@prop("encode_official", core=True, subject=Subject.TOKENIZER, strata=(text.GPT2, text.SMALL, text.LONG))
def encode_official(ctx, data):
    """The ids are those of OpenAI's encoder.py, with GPT-2's vocabulary and with small drawn ones."""
    encodings = data.draw(text.encodings(ctx.stratum), label="encodings")
    return each(ctx, encodings, lambda vocab, s: compared(ctx.load(vocab).encode(s), bpe.encode(s, vocab),
                                                          f"the ids of {shown(s)}"))

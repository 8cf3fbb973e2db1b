from gpt2_conformance.backends import Subject
from gpt2_conformance.cases import text
from gpt2_conformance.properties import prop
from gpt2_conformance.properties.tokenizer import compared, each, shown
from gpt2_conformance.reference import bpe


@prop("decode_official", core=True, subject=Subject.TOKENIZER, strata=(text.GPT2, text.SMALL, text.LONG))
def decode_official(ctx, data):
    """The text of any ids is that of OpenAI's encoder.py, U+FFFD where they cut a multi-byte character."""
    decodings = data.draw(text.decodings(ctx.stratum), label="decodings")
    return each(ctx, decodings, lambda vocab, ids: compared(ctx.load(vocab).decode(ids), bpe.decode(ids, vocab),
                                                            f"the text of {shown(ids)}"), name="ids")

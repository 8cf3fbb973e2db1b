from gpt2_conformance.backends import Subject
from gpt2_conformance.cases import text
from gpt2_conformance.properties import prop
from gpt2_conformance.properties.tokenizer import compared, each, shown


def decoded_encoding(tokenizer, s):
    return tokenizer.decode(tokenizer.encode(s))


@prop("roundtrip", core=True, subject=Subject.TOKENIZER, strata=(text.GPT2, text.SMALL, text.LONG))
def roundtrip(ctx, data):
    """Decoding the ids of a text gives the text back."""
    encodings = data.draw(text.encodings(ctx.stratum), label="encodings")
    # the reference's own round trip gives the text: the text is what is expected
    return each(ctx, encodings, lambda vocab, s: compared(decoded_encoding(ctx.load(vocab), s), s,
                                                          f"decode(encode({shown(s)}))"))

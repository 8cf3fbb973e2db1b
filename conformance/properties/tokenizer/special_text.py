from gpt2_conformance.backends import Subject
from gpt2_conformance.cases import text
from gpt2_conformance.properties import prop
from gpt2_conformance.properties.tokenizer import compared, encode_outcome, expected_under, shown


@prop("special_text", core=True, subject=Subject.TOKENIZER, strata=(text.GPT2, text.LONG))
def special_text(ctx, data):
    """<|endoftext|> in a text is encoded as the tokenizer's declared policy says (OpenAI's: as text)."""
    s = data.draw(text.special_texts(ctx.stratum), label="text")
    ctx.note(text=shown(s), special_text=ctx.special_text)
    got = encode_outcome(ctx.load(text.gpt2()), s)
    expected = expected_under(ctx.special_text, s, text.gpt2())
    return compared(got, expected, f"the ids of {shown(s)} under policy {ctx.special_text!r}")

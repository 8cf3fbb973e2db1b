from collections import defaultdict
from functools import cache

from hypothesis import strategies as st

from gpt2_conformance.backends import Subject
from gpt2_conformance.cases import golden_text, text
from gpt2_conformance.properties import prop
from gpt2_conformance.properties.tokenizer import Mismatches, compared, shown
from gpt2_conformance.reference.vocab import END_OF_TEXT


@cache
def golden_groups():
    """{"encode GROUP" or "decode GROUP": its golden records}, but for texts the guard refuses (lone surrogates,
    which the official code cannot encode either) and texts holding <|endoftext|> (special_text's)."""
    data = golden_text.load()
    groups = defaultdict(list)
    for record in data["encode"]:
        if "ids" in record and END_OF_TEXT not in record["text"]:
            groups[f"encode {record['group']}"].append(record)
    for record in data["decode"]:
        groups[f"decode {record['group']}"].append(record)
    return dict(groups)


def checked(tokenizer, group, record):
    """(input, Mismatches) of one golden record: its text's ids, or its ids' text, against the official."""
    if group.startswith("encode"):
        return shown(record["text"]), compared(tokenizer.encode(record["text"]), record["ids"],
                                               f"the ids of {shown(record['text'])}")
    return record["ids"], compared(tokenizer.decode(record["ids"]), record["text"], f"the text of {record['ids']}")


@prop("golden_tokenization", core=True, subject=Subject.TOKENIZER)
def golden_tokenization(ctx, data):
    """Every golden text encodes, and every golden id sequence decodes, as OpenAI's encoder.py did."""
    # A finite choice: Hypothesis tries each group once, then stops (every profile allows as many examples).
    group = data.draw(st.sampled_from(sorted(golden_groups())), label="golden_group")
    ctx.note(golden_group=group)
    tokenizer = ctx.load(text.gpt2())
    records = golden_groups()[group]
    wrong = [(given, m) for given, m in (checked(tokenizer, group, r) for r in records) if m.err]
    if not wrong:
        return Mismatches(0, 0, f"the {len(records)} golden cases of {group} as the official code's")
    first, m = wrong[0]
    ctx.note(golden=first)
    return Mismatches(len(wrong), 0, f"{len(wrong)} of the {len(records)} golden cases of {group} differ; the first, "
                                     f"{m.detail}")

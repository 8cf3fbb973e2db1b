"""A mutant whose bug the ci profile's derandomized draws miss and a randomized search finds in seconds
(tests/test_fuzz.py): a kernel path taken only for batches of three or more sequences whose key length leaves
3 over a multiple of 8 (the tail loop of a kernel vectorized by 8 keys) drops the last key, as attention
kernels with a remainder path have (shared anchors, bug 27: PyTorch's memory-efficient SDPA wrong for stride-0
K/V, as a batch broadcast makes them, when kv_len % 32 == 1, pytorch/pytorch#191937; MPS kernels reading past
K/V at lengths that are no multiple of 32, 38, 39 and 70, PR #169222). Some 8% of the thorough profile's random
examples meet the condition, none of ci's 50 fixed ones (Hypothesis 6.170). Not in the catalog: `selftest`
requires every mutant there to be killed at ci."""
from dataclasses import replace
from unittest import mock

from gpt2_conformance import reference
from gpt2_conformance.backends import Capabilities, Scope
from gpt2_conformance.mutants import Mutant
from gpt2_conformance.reference import gpt2

VECTOR, TAIL = 8, 3
# A kernel for small models: its declared scope leaves the suite one size class to draw from (strategies.SIZES'
# "small"), so every search of a property is one stratum, all of it cheap, where the bug shows.
SMALL = Scope(max_n_vocab=512, max_n_ctx=128, max_n_layer=4, max_head_dim=32, max_batch=4)
_attention_mask = gpt2.attention_mask


def _without_the_last_key(nd, ns, dtype):
    b = _attention_mask(nd, ns, dtype)
    b[:, -1] = 0
    return b


def _dropping_the_last_key_at_3_mod_8(m, tokens, past, *rest):
    keys = tokens.shape[1] + (0 if past is None else past.shape[-2])
    if tokens.shape[0] >= 3 and keys % VECTOR == TAIL:
        with mock.patch.object(gpt2, "attention_mask", _without_the_last_key):
            return reference.model(m.params, tokens, past, *rest)
    return reference.model(m.params, tokens, past, *rest)


backend = Mutant("last_key_dropped_at_3_mod_8", "batches of three or more sequences whose key length is 3 modulo 8 "
                 "attend to every key but the last (a vectorized kernel's tail loop)",
                 "pytorch/pytorch#191937 (memory-efficient SDPA wrong for stride-0 K/V at kv_len % 32 == 1); "
                 "shared anchors, bug 27", ("reference_logits",), model=_dropping_the_last_key_at_3_mod_8,
                 capabilities=Capabilities(past=True, set_wte=True, dtypes=("float32",), scope=SMALL))


def _reference(m, tokens, past, *rest):
    return reference.model(m.params, tokens, past, *rest)


# The bug fixed: a backend of the same name (and so the same example database keys) that is correct.
fixed = replace(backend, model=_reference)

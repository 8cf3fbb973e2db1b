"""Generated weights: read-only, named by their recipe, and the most recent kept within a byte budget."""
import numpy as np

from gpt2_conformance.cases import weights
from gpt2_conformance.reference import HParams

HP = HParams(n_vocab=7, n_ctx=5, n_embd=4, n_head=2, n_layer=1)


def test_the_same_recipe_gives_the_same_read_only_weights():
    params = weights.random_params(HP, 3, "large")
    assert weights.random_params(HP, 3, "large") is params
    assert weights.random_params(HP, 3, "unit") is not params
    assert not any(value.flags.writeable for value in params.tensors.values())
    assert params.origin == "random_params(" + repr(HP) + ", 3, 'large', <f8)"
    again = weights._generated(HP, 3, "large", np.float64)  # not the kept one: drawn afresh, the same bytes
    assert all(np.array_equal(again.tensors[k], v) for k, v in params.tensors.items())


def test_the_most_recent_are_kept_up_to_the_budget():
    recent = weights._Recent(100)
    for key in "abcde":
        recent.put(key, key.upper(), 40)
    assert list(recent.values) == ["d", "e"] and recent.nbytes == 80
    assert recent.get("d") == "D" and list(recent.values) == ["e", "d"]  # used: the last to go
    recent.put("d", "D", 40)  # again: counted once
    recent.put("f", "F", 101)  # over the budget alone: not kept, and nothing else goes for it
    assert list(recent.values) == ["e", "d"] and recent.nbytes == 80 and recent.get("f") is None

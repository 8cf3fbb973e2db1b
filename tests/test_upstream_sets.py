"""Upstream sets: a framework's known deviations, shipped once, applied by name, recognised in failures, and
found stale when the framework fixes them."""
import pytest

from gpt2_conformance.backends import Subject
from gpt2_conformance.judge import expectations
from gpt2_conformance.judge.runner import PropertyResult
from gpt2_conformance.run.isolation import run_isolated
from tests.test_expectations import case


@pytest.mark.parametrize("name", expectations.set_names())
def test_every_shipped_set_is_cited_measured_and_bounded(name):
    f = expectations.load_source(name)
    (s,) = f.sets
    assert f.backend is None and s.name == name and s.measured and s.modules and f.entries
    # bounded deviations, each from this set: by magnitude, or a tokenizer's (compared exactly) by the inputs
    assert all(e.upstream == s and (e.max_ratio or set(e.where or ()) == {"stratum"}) for e in f.entries)


@pytest.mark.parametrize("backend,sets", [("hf-torch-eager", ["torch"]), ("hf-torch-sdpa", ["torch"]),
                                          ("keras-hub-torch", ["torch"]), ("keras-hub-tf", ["keras-tf"]),
                                          ("hf-tf", ["transformers4-tf", "keras-tf"]), ("llama-cpp", ["ggml"])])
def test_the_bundled_backends_files_include_the_shared_sets(backend, sets):
    f = expectations.load(expectations.SHIPPED / f"{backend}.toml")
    assert [s.name for s in f.sets] == sets and all(e.upstream for e in f.entries)


@pytest.mark.parametrize("body,complaint", [
    ('backend = "b"\ninclude = ["tourch"]\n', "includes 'tourch', which is no upstream set"),
    ('backend = "b"\ninclude = "torch"\n', "include must be a list of upstream set names"),
    ('title = "t"\ncite = "c"\n', "an upstream set lacks measured, modules, upstream, when"),
    ('title = "t"\ncite = "c"\nwhen = "h"\nupstream = "u"\nmodules = ["m"]\nmeasured = { m = "1" }\n',
     "upstream \\(a URL\\)"),
])
def test_a_malformed_include_or_set_is_a_clear_error(tmp_path, body, complaint):
    (tmp_path / "x.toml").write_text(body)
    with pytest.raises(expectations.ExpectationError, match=complaint):
        expectations.load(tmp_path / "x.toml")


def test_an_unknown_set_name_lists_the_shipped_ones():
    with pytest.raises(expectations.ExpectationError, match="no upstream set of that name .*torch"):
        expectations.load_source("tourch")


def test_a_failure_that_matches_a_set_says_which_and_how_to_apply_it():
    pytest.importorskip("torch")
    # In a worker of its own, as certify runs a backend: whether torch's LayerNorm(1) kernel leaves its rounding
    # residue on a given example depends on what the process ran before (seen to pass after other tests).
    (result,) = run_isolated("tests.torch_layernorm_gpt2:backend", ["gradients"], profile="ci").results
    assert result.status == "failed" and "n_embd=1" in result.counterexample
    assert result.upstream_hint.startswith(
        "matches known upstream deviation pytorch/pytorch#188375 (LayerNorm of width 1): apply `--expectations torch` "
        "if your model uses torch.nn.LayerNorm")
    # (other sets may match too where this process has loaded their framework, e.g. TensorFlow: never torch's here)
    torch_set = expectations.load_source("torch").entries

    def names_torch(n_embd, ratio, applied=()):
        return "--expectations torch" in (expectations.recognise("gradients", "float32", case("unit", n_embd=n_embd),
                                                                 ratio, applied) or "")

    assert names_torch(1, 5.0) and not names_torch(1, 5.0, torch_set)  # applied already
    assert not names_torch(1, 2e4) and not names_torch(2, 5.0)  # beyond its bound; not its examples


def fixed():
    """A probe whose deviation is gone from the installed framework."""
    return False


def stale_set(tmp_path, probe, strict):
    (tmp_path / "numpy-bug.toml").write_text(f'''
title = "a deviation fixed since"
cite = "numpy/numpy#1"
upstream = "https://github.com/numpy/numpy/issues/1"
modules = ["numpy"]
measured = {{ numpy = "0.1" }}
when = "if your model uses numpy"
{f'probe = "{probe}"' if probe else ""}
[[expected]]
property = "reference_logits"
category = "known-bug"
kind = "tolerance"
max_ratio = 10
strict = {str(strict).lower()}
reason = "fixed since, https://github.com/numpy/numpy/issues/1"
''')
    return expectations.Listing(expectations.load(tmp_path / "numpy-bug.toml").entries)


@pytest.mark.parametrize("probe,strict", [(None, True), ("tests.test_upstream_sets:fixed", False)])
def test_a_stale_set_fails_naming_the_set_and_the_versions(tmp_path, probe, strict):
    import numpy

    passed = PropertyResult("reference_logits", "passed", True, dtype="float32", message="held")
    judged = expectations.judge(stale_set(tmp_path, probe, strict), passed)
    assert judged.status == "xpassed" and "numpy/numpy#1" in judged.message
    assert "upstream set `numpy-bug` is stale" in judged.message
    assert f"measured on numpy 0.1; installed here: numpy {numpy.__version__}" in judged.message


def test_a_loose_set_whose_probe_still_reproduces_passes_quietly(tmp_path):
    passed = PropertyResult("reference_logits", "passed", True, dtype="float32", message="held")
    listing = stale_set(tmp_path, "gpt2_conformance.judge.probes:torch_layernorm_width_1", False)
    pytest.importorskip("torch")
    assert expectations.judge(listing, passed).status == "passed"  # torch 2.13 still has pytorch#188375


@pytest.mark.parametrize("bound,complaint", [
    ("", "encode_official compares exactly: an entry bounds its deviation by the inputs it shows on"),
    ("max_ratio = 10\nwhere = { stratum = \"small vocabularies\" }", "with no max_ratio"),
    ("where = { stratum = \"drawn\" }", "where must be \\{ stratum = ... \\}, one of encode_official's"),
    ("where = { n_embd = 1 }", "where must be \\{ stratum = ... \\}"),
])
def test_a_tokenizer_entry_is_bounded_by_a_stratum_of_its_property(tmp_path, bound, complaint):
    (tmp_path / "t.toml").write_text(f'backend = "t"\n[[expected]]\nproperty = "encode_official"\ncategory = "known-bug"\n'
                                     f'kind = "tolerance"\n{bound}\nreason = "https://example.org/1"\n')
    with pytest.raises(expectations.ExpectationError, match=complaint):
        expectations.load(tmp_path / "t.toml")


def test_the_bundled_tiktoken_includes_its_set_and_no_model_file_excuses_a_tokenizer():
    f = expectations.load(expectations.SHIPPED / "tokenizers" / "tiktoken.toml")
    assert [s.name for s in f.sets] == ["tiktoken"]
    llama = expectations.load(expectations.SHIPPED / "llama-cpp.toml")  # a model; llama-cpp names a tokenizer too
    assert expectations.entries_for([llama], "llama-cpp", "llama-cpp", Subject.TOKENIZER) == ()
    assert expectations.entries_for([f], "tiktoken", "tiktoken", Subject.TOKENIZER) == f.entries


def test_a_users_file_for_one_subject_keeps_the_shipped_file_of_the_other(tmp_path):
    """llama-cpp names a model and a tokenizer: a user's tokenizer file for it leaves the model's shipped known
    deviations in place."""
    (tmp_path / "tok.toml").write_text('backend = "llama-cpp"\ninclude = ["tiktoken"]\n')
    given = [expectations.load(tmp_path / "tok.toml")]
    files = expectations.with_shipped(given, ["llama-cpp"])
    assert [s.name for f in files for s in f.sets] == ["tiktoken", "ggml"]

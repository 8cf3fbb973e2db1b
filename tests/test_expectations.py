"""Expectation files: what they may say, and how a listed failure is judged."""
import pytest

from gpt2_conformance.judge import expectations
from gpt2_conformance.judge.runner import PropertyResult

LINK = "https://github.com/karpathy/nanoGPT/issues/274"


def write(tmp_path, body, backend="b"):
    path = tmp_path / "x.toml"
    path.write_text(f'backend = "{backend}"\n' + body)
    return path


def entry(prop="reference_logits", kind="tolerance", category="known-bug", reason=f"bug, {LINK}", extra=None):
    extra = "max_ratio = 200" if extra is None and kind == "tolerance" else extra or ""
    return f'[[expected]]\nproperty = "{prop}"\ncategory = "{category}"\nkind = "{kind}"\nreason = "{reason}"\n{extra}\n'


@pytest.mark.parametrize("body,complaint", [
    (entry(prop="nope"), "unknown property 'nope'"),
    (entry(kind="slow"), "kind must be one of tolerance, error, shape, unsupported"),
    (entry(kind="systematic"), "kind must be one of tolerance, error"),  # listed as tolerance, with its bound
    (entry(category="wontfix"), "category must be one of"),
    (entry(reason="no link"), "must link"),
    (entry(prop="kv_cache", kind="error", extra="") * 2, "listed twice: kv_cache"),
    ('[[expected]]\nproperty = "determinism"\n', "missing category, kind, reason"),
    ("oops = [", "cannot read"),
    (entry(extra="max_ratio = 0.5"), "max_ratio must be a number from 1 to 1e.08"),
    (entry(extra="max_ratio = { enormous = 10 }"), "or a table of such numbers by weight scale"),
    (entry(extra=""), "an entry of kind tolerance needs max_ratio"),
    (entry(prop="kv_cache", kind="error", extra="max_ratio = 10"), "bound a deviation of kind tolerance only"),
    (entry(extra="max_ratio = 10\nwhere = { width = 1 }"), "where must be a table of hparams"),
    (entry(kind="error"), "reference_logits is core and must run"),
    (entry(prop="tied_head", kind="shape"), "tied_head is core and must run"),
])
def test_a_malformed_file_is_a_clear_error(tmp_path, body, complaint):
    with pytest.raises(expectations.ExpectationError, match=complaint.replace("(", r"\(")):
        expectations.load(write(tmp_path, body))


def result(status, kind=None, dtype="float32", core=True, pid="reference_logits", samples=()):
    return PropertyResult(pid, status, core, kind=kind, dtype=dtype, message="what happened", samples=list(samples))


def judged(tmp_path, body, outcome):
    (e,) = expectations.load(write(tmp_path, body)).entries
    return expectations.judge(expectations.entry_for([e], outcome.id, outcome.dtype), outcome)


@pytest.mark.parametrize("body,outcome,status", [
    (entry(), result("failed", "tolerance", samples=[[1e-3, 1e-4]]), "xfailed"),
    (entry(), result("failed", "systematic", samples=[[1e-5, 1e-4]] * 9), "xfailed"),  # a bounded deviation too
    (entry(prop="kv_cache", kind="shape"), result("error", "shape", core=False, pid="kv_cache"), "xfailed"),
    (entry(prop="kv_cache", kind="unsupported"), result("failed", "unsupported", core=False, pid="kv_cache"), "xfailed"),
    (entry(), result("passed"), "xpassed"),  # the list must not rot
    (entry(prop="kv_cache", kind="error"), result("failed", "tolerance", core=False, pid="kv_cache"), "failed"),
    (entry(), result("error", "error"), "error"),  # a different failure is a new failure
    (entry(), result("skipped"), "skipped"),  # a core property that cannot run stays that: the verdict says so
    (entry(), result("blocked", "error"), "blocked"),  # the essentials failure is the one to fix
])
def test_listed_failures_are_judged_by_kind(tmp_path, body, outcome, status):
    assert judged(tmp_path, body, outcome).status == status


def test_dtype_tiers_are_matched_and_an_entry_matching_nothing_is_an_error(tmp_path):
    body = entry(extra='dtype = "float16"\nmax_ratio = 200')
    assert judged(tmp_path, body, result("failed", "tolerance", dtype="float16")).status == "xfailed"
    assert judged(tmp_path, body, result("failed", "tolerance", dtype="float32")).status == "failed"
    f = expectations.load(write(tmp_path, body))
    (problem,) = expectations.unmatched(f.entries, [result("failed", "tolerance", dtype="float32")])
    assert "reference_logits [float16] matches nothing" in problem
    assert expectations.unmatched(f.entries, [result("passed", pid="determinism")]) == []  # not run: not judged


def run_listed(mutant, property_id, max_ratio):
    from gpt2_conformance.cases import profiles
    from gpt2_conformance.judge.runner import run_property
    from gpt2_conformance.mutants import MUTANTS
    from gpt2_conformance.properties import REGISTRY

    listed = expectations.Expected(property_id, "known-bug", "tolerance", f"a known deviation, {LINK}", max_ratio=max_ratio)
    return run_property(REGISTRY[property_id], MUTANTS[mutant], settings=profiles.get("ci"), expected=(listed,))


def test_a_listed_property_runs_every_example_and_bounds_them_all():
    result = run_listed("erf_gelu", "reference_logits", {None: 200})  # erf GELU: at most 50 times (measured)
    assert result.status == "xfailed" and result.examples == 50  # all of them, not those before the first failure
    assert result.max_abs_err == max(err for err, _ in result.samples)


def test_a_bounded_deviation_does_not_cover_a_second_bug():
    result = run_listed("relu_behind_erf_expectation", "reference_logits", {None: 200})
    assert result.status == "failed" and "beyond the bound (max_ratio = 200) of the known deviation" in result.message


@pytest.mark.parametrize("max_ratio,status", [({"huge": 1e9}, "xfailed"), ({"unit": 1e9, "large": 1e9}, "failed")])
def test_a_deviation_bounded_on_some_scales_must_hold_on_the_others(max_ratio, status):
    # a -1e4 mask leaks only where scores fall below -1e4: at scale huge
    assert run_listed("mask_replaced_1e4", "causal_masking", max_ratio).status == status


def test_max_ratio_per_scale_is_read_from_a_table(tmp_path):
    (e,) = expectations.load(write(tmp_path, entry(extra="max_ratio = { unit = 20, huge = 1e6 }"))).entries
    assert e.limit(1.0, case("unit")) == 20 and e.limit(1.0, case("huge")) == 1e6 and e.limit(1.0, case("tiny")) == 1
    assert e.limit(1.0, None) == 1e6  # a golden case has no scale: the table's largest


def case(scale, n_embd=4):
    from gpt2_conformance.cases.strategies import Case
    from gpt2_conformance.reference import HParams

    return Case(HParams(n_vocab=5, n_ctx=4, n_embd=n_embd, n_head=1, n_layer=1), 0, scale, None)


def test_several_entries_bound_one_deviation_each_on_its_own_examples(tmp_path):
    body = entry(extra="max_ratio = 100\nwhere = { n_embd = 1 }") + entry(extra="max_ratio = { huge = 1e5 }")
    listing = expectations.entry_for(expectations.load(write(tmp_path, body)).entries, "reference_logits", "float32")
    assert listing.limit(1.0, case("unit", n_embd=1)) == 100 and listing.limit(1.0, case("huge", n_embd=4)) == 1e5
    assert listing.limit(1.0, case("huge", n_embd=1)) == 1e5 and listing.limit(1.0, case("unit", n_embd=4)) == 1


def test_a_deviation_listed_where_some_hparams_hold_covers_only_those(tmp_path):
    (e,) = expectations.load(write(tmp_path, entry(extra="max_ratio = 200\nwhere = { n_embd = 1 }"))).entries
    assert e.limit(1.0, case("unit", n_embd=1)) == 200 and e.limit(1.0, case("unit", n_embd=2)) == 1
    assert e.limit(1.0, None) == 1  # a golden case is no n_embd 1 model


def test_a_deviation_not_met_in_a_run_is_xpassed_unless_it_is_not_strict(tmp_path):
    strict = expectations.Listing(expectations.load(write(tmp_path, entry())).entries)
    loose = expectations.Listing(expectations.load(write(tmp_path, entry(
        extra="max_ratio = 200\nwhere = { n_embd = 1 }\nstrict = false"))).entries)
    assert expectations.judge(strict, result("passed")).status == "xpassed"
    judged = expectations.judge(loose, result("passed"))
    assert judged.status == "passed" and "no example met the deviation" in judged.message

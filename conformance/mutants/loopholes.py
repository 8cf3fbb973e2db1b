"""Mutants that try the suite's own loopholes: a declaration that would buy a looser judgement, a refusal
that would hide a bug, an expectation file that would cover a second bug, an output buffer that would
make a backend agree with itself."""
from dataclasses import replace

from gpt2_conformance.backends import Capabilities, Unsupported
from gpt2_conformance.judge.expectations import Expected
from gpt2_conformance.mutants import MUTANTS, Mutant, register
from gpt2_conformance.mutants.catalog import _erf_gelu, _in_layers, _relu

ERF_GELU_LINK = "https://github.com/karpathy/nanoGPT/issues/274"


class DeclinesDeepModels(Mutant):
    """Raises Unsupported for exactly the models where its bug lives (n_layer >= 2)."""

    def load(self, params, dtype="float32"):
        if params.hparams.n_layer >= 2:
            raise Unsupported("this implementation supports one layer")
        return super().load(params, dtype)


def reused_buffer(name, kills):
    """The mutant `name` returning views of one output buffer, aimed at a property that compares two calls."""
    return replace(MUTANTS[name], name=f"{name}_reused_buffer", kills=kills, reuses_output_buffer=True,
                   bug=MUTANTS[name].bug + ", returning logits in one buffer that the next call overwrites",
                   cite=MUTANTS[name].cite + "; llama.cpp llama_get_logits (valid until the next llama_decode)")


register(
    Mutant("relu_declares_bfloat16", "ReLU instead of GELU in float32, declaring bfloat16 only (a looser tolerance)",
           "a loophole: a backend choosing its tolerance by declaring a dtype; keras-hub TransformerDecoder activation='relu'",
           ("reference_logits",), patches={"gelu": _relu}, computes_in="float32",
           capabilities=Capabilities(past=True, set_wte=True, dtypes=("bfloat16",))),
    DeclinesDeepModels("relu_after_layer_0_declined", "ReLU in every block after the first, and Unsupported raised "
                       "for every model of two layers or more", "a loophole: Unsupported dropping the region of the bug from the run",
                       ("reference_logits", "causal_masking", "lm_loss"),
                       model=_in_layers(lambda layer, n: layer >= 1, lambda layer: {"gelu": _relu})),
    Mutant("relu_behind_erf_expectation", "exact erf GELU (listed, max_ratio 200: it errs by up to 50 times its tolerance) and ReLU in every block from the "
           "third on (not listed)", "a loophole: an expectation file covering a second bug", ("reference_logits",),
           patches={"gelu": _erf_gelu}, model=_in_layers(lambda layer, n: layer >= 2, lambda layer: {"gelu": _relu}),
           expected=(Expected("reference_logits", "known-bug", "tolerance", f"erf GELU, {ERF_GELU_LINK}", max_ratio={None: 200.0}),)),
)

# Each property that compares two calls of one backend, against a real bug behind a reused output buffer.
register(*(reused_buffer(name, (pid,)) for name, pid in [
    ("nondeterministic", "determinism"), ("no_causal_mask", "causal_masking"),
    ("length_dependent", "prefix_consistency"), ("top_left_mask_after_past", "kv_cache"),
    ("mask_replaced_1e4", "finite_outputs"), ("padding_without_positions", "batch_padding"),
    ("head_copied_at_load", "tied_head")]))

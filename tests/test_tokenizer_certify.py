"""certify --tokenizer end to end: the certificate's tokenizers list, every report, the named special-text verdict
and its acceptance, a failing text saved and replayed, and bad specs refused before anything runs."""
import subprocess
import sys

from gpt2_conformance.backends import Subject
from gpt2_conformance.properties import ids_of
from gpt2_conformance.report import text
from tests.test_cli import ROOT, certify

SPECIAL = "tests.transformers_special:backend"  # transformers' default: <|endoftext|> as id 50256, declared
STRICT = "gpt2_conformance.mutants.tokenizers:decode_strict"  # decoding with errors='strict'


def cli(*args):
    return subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_a_declared_special_text_policy_is_named_and_accepted_only_when_told(tmp_path):
    proc, cert = certify(tmp_path / "refused", "--tokenizer", "reference", "--tokenizer", SPECIAL)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert cert["backends"] == [] and [t["name"] for t in cert["tokenizers"]] == ["reference",
                                                                                   "transformers-gpt2-default"]
    reference, special = cert["tokenizers"]
    assert reference["passed"] and reference["verdict"]["label"] == "certified"
    label = ("certified with special-text policy 'special' (<|endoftext|> in a text is the special token 50256)")
    assert special["verdict"]["label"] == label and special["verdict"]["special_text"] == "special"
    assert [p["id"] for p in special["properties"]] == ids_of(Subject.TOKENIZER)
    assert all(p["status"] == "passed" for p in special["properties"])
    assert text.headline(cert) == (f"NOT CERTIFIED (transformers-gpt2-default (tokenizer): {label}, not accepted "
                                   "without --accept-special-text)")
    proc, cert = certify(tmp_path / "accepted", "--tokenizer", SPECIAL, "--accept-special-text")
    assert proc.returncode == 0 and cert["accepted"]["special_text"], proc.stdout + proc.stderr
    md = (tmp_path / "accepted" / "report.md").read_text()
    assert md.startswith("## gpt2-conformance: certified (every verdict accepted; transformers-gpt2-default (tokenizer): "
                         "certified with special-text policy 'special' (&lt;\\|endoftext\\|&gt; in a text")
    assert "| tokenizer property | transformers-gpt2-default |" in md
    html = (tmp_path / "accepted" / "report.html").read_text()
    assert "<th>tokenizer property</th>" in html and 'id="b0"' in html
    assert '<testsuite name="transformers-gpt2-default (tokenizer)"' in (tmp_path / "accepted" / "junit.xml").read_text()


def test_a_tokenizer_bug_fails_with_a_text_that_replay_reproduces(tmp_path):
    proc, cert = certify(tmp_path, "--tokenizer", STRICT, "--property", "decode_official")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (failed,) = cert["tokenizers"][0]["properties"]
    assert failed["status"] == "error" and "UnicodeDecodeError" in failed["message"]
    assert failed["reproduction"].startswith("gpt2-conformance replay ") and f"--tokenizer {STRICT}" in failed["reproduction"]
    saved = tmp_path / "failing-inputs" / "decode_strict__decode_official.npz"
    again = cli("replay", str(saved))
    assert again.returncode == 1 and "decode_official: ERROR" in again.stdout, again.stdout + again.stderr
    assert cli("replay", str(saved), "--tokenizer", "reference").returncode == 0
    wrong = cli("replay", str(saved), "--backend", "reference")
    assert wrong.returncode == 2 and "name the tokenizer to run it on with --tokenizer" in wrong.stderr


def test_models_and_tokenizers_in_one_run_each_get_their_own_properties(tmp_path):
    """--property naming a model's property leaves the tokenizer's verdict whole; the two named alike are told
    apart in every report."""
    proc, cert = certify(tmp_path, "--backend", "reference", "--tokenizer", "reference", "--property", "causal_masking")
    assert proc.returncode == 4, proc.stdout + proc.stderr  # partial: one model property
    model, tokenizer = cert["backends"][0], cert["tokenizers"][0]
    assert [p["id"] for p in model["properties"]] == ["causal_masking"]
    assert [p["id"] for p in tokenizer["properties"]] == ids_of(Subject.TOKENIZER)
    partial = f"1 of {len(ids_of(Subject.MODEL))} model properties (--property)"
    assert cert["partial"] == [partial] and model["verdict"]["reasons"] == [partial]
    assert tokenizer["verdict"]["label"] == "certified"
    assert "reference (tokenizer): certified (ids and text compared exactly)" in proc.stdout


def test_a_property_of_nothing_the_run_certifies_is_a_usage_error(tmp_path):
    proc = cli("certify", "--report-dir", str(tmp_path), "--backend", "reference", "--property", "roundtrip")
    assert proc.returncode == 2 and "--property roundtrip: no property of the models this run certifies" in proc.stderr


def test_a_spec_that_names_no_tokenizer_is_refused_before_anything_runs(tmp_path):
    proc = cli("certify", "--report-dir", str(tmp_path), "--tokenizer", "tiktokn")
    assert proc.returncode == 2 and "unknown tokenizer 'tiktokn': use one of hf-tokenizers, keras-hub" in proc.stderr

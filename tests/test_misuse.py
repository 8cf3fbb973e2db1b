"""The catalog of misuse: bad arguments, paths, files, settings and misbehaving backends. Each gets a clear
message naming the problem and the right exit status (2: the user's, 1: the backend's, 3: the suite's),
never a traceback, and never lost or contradictory reports."""
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gpt2_conformance import cli
from gpt2_conformance.cases import checkpoints
from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.judge import oracle_cache
from gpt2_conformance.reference import HParams
from gpt2_conformance.run import certify as certify_steps
from tests import certificates

HP = HParams(n_vocab=11, n_ctx=8, n_embd=8, n_head=2, n_layer=1)
FAST = ("--property", "determinism", "--property", "causal_masking", "--max-examples", "2")


def main(capsys, *args):
    """(exit status, stdout, stderr) of the CLI run in this process."""
    try:
        code = cli.main(list(args))
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def expectation(tmp_path, body, backend="reference"):
    return str(write(tmp_path / "e.toml", f'backend = "{backend}"\n[[expected]]\n{body}\n'))


LISTED = 'property = "reference_logits"\ncategory = "known-bug"\nreason = "see https://example.org/1"\n'


def official(tmp_path, hparams_json):
    directory = checkpoints.save_official(random_params(HP, 0).astype(np.float32), tmp_path / "ckpt")
    (directory / "hparams.json").write_text(hparams_json)
    return str(directory)


def hf(tmp_path, config_json=None, weights=None):
    directory = checkpoints.save_hf(random_params(HP, 0).astype(np.float32), tmp_path / "hf")
    if config_json is not None:
        (directory / "config.json").write_text(config_json)
    if weights is not None:
        (directory / "model.safetensors").write_bytes(weights)
    return str(directory)


# (id, arguments (a function of tmp_path where it needs files), exit status, words in the message)
USAGE = [
    ("max-examples-zero", lambda t: ["certify", "--max-examples", "0"], 2, "must be positive, got 0"),
    ("max-examples-negative", lambda t: ["certify", "--max-examples", "-3"], 2, "must be positive, got -3"),
    ("max-examples-not-a-number", lambda t: ["certify", "--max-examples", "many"], 2, "not a number: 'many'"),
    ("timeout-zero", lambda t: ["certify", "--timeout", "0"], 2, "must be positive, got 0"),
    ("timeout-negative", lambda t: ["certify", "--timeout", "-5"], 2, "must be positive, got -5"),
    ("unknown-profile", lambda t: ["certify", "--profile", "fast"], 2, "invalid choice: 'fast'"),
    ("unknown-property", lambda t: ["certify", "--property", "speed"], 2, "invalid choice: 'speed'"),
    ("unknown-accept-level", lambda t: ["certify", "--accept-level", "int8"], 2, "invalid choice: 'int8'"),
    ("unknown-backend-name", lambda t: ["certify", "--backend", "hf-torch-fast"], 2, "unknown backend 'hf-torch-fast'"),
    ("empty-backend-spec", lambda t: ["certify", "--backend", ""], 2, "unknown backend ''"),
    # a typo in module:attr is the user's mistake, as a typo in a bundled name is (found without importing it)
    ("module-attr-typo", lambda t: ["certify", "--backend", "examples.my_torch_gpt2:backnd"], 2,
     "module examples.my_torch_gpt2 has no attribute 'backnd' (it defines"),
    ("module-attr-no-module", lambda t: ["certify", "--backend", "exampels.my_torch_gpt2:backend"], 2,
     "no module named 'exampels.my_torch_gpt2'"),
    ("report-dir-is-a-file", lambda t: ["certify", "--report-dir", str(write(t / "f", ""))], 2, "cannot write reports to"),
    ("report-dir-below-a-file", lambda t: ["certify", "--report-dir", str(write(t / "f", "") / "out")], 2,
     "cannot write reports to"),
    ("save-dir-is-a-file", lambda t: ["certify", "--report-dir", str(t / "out"), "--save-failing-inputs",
                                      str(write(t / "f", ""))], 2, "cannot write reports to"),
    ("expectations-missing", lambda t: ["certify", "--expectations", str(t / "none.toml")], 2, "cannot read expectation file"),
    ("expectations-not-toml", lambda t: ["certify", "--expectations", str(write(t / "e.toml", "backend = ["))], 2,
     "cannot read expectation file"),
    ("expectations-unknown-key", lambda t: ["certify", "--expectations", expectation(t, LISTED + 'kind = "tolerance"\n'
                                            'max_ratio = 10\nseverity = "high"')], 2, "unknown keys severity"),
    ("expectations-without-bound", lambda t: ["certify", "--expectations", expectation(t, LISTED + 'kind = "tolerance"')],
     2, "needs max_ratio"),
    ("expectations-excuse-a-core-error", lambda t: ["certify", "--expectations", expectation(t, LISTED + 'kind = "error"')],
     2, "reference_logits is core and must run"),
    ("expectations-bad-scale", lambda t: ["certify", "--expectations", expectation(t, LISTED + 'kind = "tolerance"\n'
                                          'max_ratio = { enormous = 10 }')], 2, "or a table of such numbers by weight scale"),
    ("checkpoint-is-a-file", lambda t: ["certify", "--checkpoint", str(write(t / "w.bin", ""))], 2,
     "is a file: a checkpoint is the directory"),
    ("checkpoint-missing", lambda t: ["certify", "--checkpoint", str(t / "nowhere")], 2, "does not exist"),
    ("checkpoint-empty-directory", lambda t: ["certify", "--checkpoint", str(t)], 2,
     "neither an official GPT-2 directory (hparams.json) nor a Hugging Face one"),
    ("hparams-json-a-number", lambda t: ["certify", "--checkpoint", official(t, "5")], 2,
     "hparams.json must hold a JSON object, got int"),
    ("hparams-json-a-list", lambda t: ["certify", "--checkpoint", official(t, "[768]")], 2,
     "hparams.json must hold a JSON object, got list"),
    ("hparams-json-null", lambda t: ["certify", "--checkpoint", official(t, "null")], 2,
     "hparams.json must hold a JSON object, got NoneType"),
    ("hparams-json-not-json", lambda t: ["certify", "--checkpoint", official(t, "{n_vocab: 11")], 2, "cannot read"),
    ("hparams-json-incomplete", lambda t: ["certify", "--checkpoint", official(t, '{"n_vocab": 11}')], 2,
     "hparams lack n_ctx, n_embd, n_head, n_layer"),
    ("config-json-a-list", lambda t: ["certify", "--checkpoint", hf(t, "[]")], 2, "config.json must hold a JSON object"),
    ("config-json-incomplete", lambda t: ["certify", "--checkpoint", hf(t, '{"model_type": "gpt2", "n_embd": 8}')], 2,
     "config.json lacks vocab_size"),
    ("safetensors-cut-short", lambda t: ["certify", "--checkpoint", hf(t, weights=b"\x08\x00\x00")], 2,
     "cannot read"),
    ("report-file-is-a-directory", lambda t: ["certify", "--report-dir", str(directory(t / "out" / "junit.xml").parent)],
     2, "junit.xml there is a directory"),
    ("expectations-infinite-bound", lambda t: ["certify", "--expectations", expectation(t, LISTED + 'kind = "tolerance"\n'
                                               'max_ratio = inf')], 2, "max_ratio must be a number from 1 to 1e+08"),
    ("expectations-astronomic-bound", lambda t: ["certify", "--expectations", expectation(t, LISTED + 'kind = '
                                                 '"tolerance"\nmax_ratio = { huge = 1e300 }')], 2,
     "max_ratio must be a number from 1 to 1e+08"),
    ("timeout-infinite", lambda t: ["certify", "--timeout", "inf"], 2, "must be at most 604800, got inf"),
    ("timeout-1e10", lambda t: ["certify", "--timeout", "1e10"], 2, "must be at most 604800, got 1e10"),
    ("checkpoint-symlink-loop", lambda t: ["certify", "--checkpoint", str(loop(t / "ckpt"))], 2,
     "is a symbolic link that leads nowhere"),
]


def directory(path):
    path.mkdir(parents=True)
    return path


def loop(path):
    path.symlink_to(path)
    return path


@pytest.mark.parametrize("case,args,status,words", USAGE, ids=[u[0] for u in USAGE])
def test_usage_errors_stop_before_anything_runs(capsys, tmp_path, monkeypatch, case, args, status, words):
    monkeypatch.setattr(certify_steps, "run_jobs", lambda *a, **k: pytest.fail("a backend ran"))
    code, out, err = main(capsys, *args(tmp_path))
    assert code == status and words in err, err
    assert "Traceback" not in err


def test_an_unusable_cache_directory_is_the_users_problem(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv(oracle_cache.ENV, str(write(tmp_path / "cache", "")))
    monkeypatch.setattr(certify_steps, "run_jobs", lambda *a, **k: pytest.fail("a backend ran"))
    code, _, err = main(capsys, "certify", "--report-dir", str(tmp_path / "out"))
    assert code == 2 and "$GPT2_CONFORMANCE_CACHE=" in err and "the oracle cache cannot live there" in err


def test_an_internal_error_exits_3_not_1(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "make_plan", lambda args: 1 / 0)
    code, _, err = main(capsys, "certify", "--report-dir", str(tmp_path))
    assert code == 3 and "ZeroDivisionError" in err and "internal error (exit 3)" in err


@pytest.mark.parametrize("command", ["certify", "selftest", "replay"])
def test_help_shows_each_default_once(capsys, command):
    code, out, _ = main(capsys, command, "--help")
    options = re.split(r"\n  (?=-)", out.split("options:")[-1])
    assert code == 0 and all(option.count("default") <= 1 for option in options), options
    out = "".join(out.split())  # argparse wraps lines anywhere, even inside a default
    assert "(default:None)" not in out and "(default:[])" not in out and "(default:False)" not in out
    if command != "replay":
        assert "--report-dirDIRwhere" in out and out.count("(default:gpt2-conformance-report)") == 1


def test_version_and_defaults_in_help(capsys):
    code, out, _ = main(capsys, "--version")
    assert code == 0 and out.startswith("gpt2-conformance ")
    code, out, _ = main(capsys, "certify", "--help")
    out = " ".join(out.split())
    assert code == 0 and "(default: ci)" in out and "(default: 600)" in out
    code, out, _ = main(capsys, "--help")
    assert "4 partial run" in out and "3 internal error" in out


# Replay: a bad file or a backend that cannot run it is the user's problem (2), never "reproduces" (1).

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A failing example saved by certify (kv_cache of a mutant with a top-left mask)."""
    out = tmp_path_factory.mktemp("saved")
    assert cli.main(["certify", "--report-dir", str(out), "--backend", "gpt2_conformance.mutants:top_left_mask_after_past",
                     "--property", "kv_cache"]) == 1
    return out / "failing-inputs" / "top_left_mask_after_past__kv_cache__float32.npz"


def damaged(saved, tmp_path, how):
    path = tmp_path / "damaged.npz"
    data = saved.read_bytes()
    if how == "cut":
        path.write_bytes(data[: len(data) // 2])
    elif how == "noise":
        path.write_bytes(os.urandom(2000))
    else:  # a valid archive whose meta lacks what replay needs, names an unknown property, or tokens out of range
        with np.load(saved) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop("meta")))
        if how == "tokens":
            tokens = meta["draws"][0][1]["fields"]["tokens"]["ndarray"]  # the case's, as saved
            arrays[tokens] = arrays[tokens] + 10**6
        meta = {"spec": "reference"} if how == "no-meta" else meta if how == "tokens" else {**meta, "property": "speed"}
        np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    return str(path)


REPLAY = [
    ("missing-file", lambda s, t: [str(t / "none.npz")], "is not a saved failing example"),
    ("cut-short", lambda s, t: [damaged(s, t, "cut")], "is not a saved failing example"),
    ("not-an-archive", lambda s, t: [damaged(s, t, "noise")], "is not a saved failing example"),
    ("meta-incomplete", lambda s, t: [damaged(s, t, "no-meta")], "it lacks property, backend, dtype, draws"),
    ("unknown-property", lambda s, t: [damaged(s, t, "property")], "unknown property 'speed'"),
    ("tokens-outside-the-vocabulary", lambda s, t: [damaged(s, t, "tokens")], "tokens lie outside its own vocabulary"),
    ("backend-without-past", lambda s, t: [str(s), "--backend", "examples.my_torch_gpt2:backend"],
     "my-torch-gpt2 cannot run kv_cache: backend lacks past"),
    ("backend-unknown", lambda s, t: [str(s), "--backend", "nope:nothing"], "cannot be imported"),
    ("outside-the-scope", lambda s, t: [str(s), "--backend", "tests.misbehaving:narrow_scope"],
     "lies outside narrow-scope's declared scope"),
]


@pytest.mark.parametrize("case,args,words", REPLAY, ids=[r[0] for r in REPLAY])
def test_replay_of_a_bad_file_or_on_a_backend_that_cannot_run_it(capsys, tmp_path, saved, case, args, words):
    if "my_torch" in str(args(saved, tmp_path)):
        pytest.importorskip("torch")
    code, _, err = main(capsys, "replay", *args(saved, tmp_path))
    assert code == 2 and words in err, err
    assert "Traceback" not in err


# Misbehaving backends: each blocked (or failed) by one clear cause, with every report written.

FAULTS = [
    ("name-not-a-string", "tests.misbehaving:unnamed", "has name 42: a backend's name must be a non-empty string"),
    ("capabilities-a-dict", "tests.misbehaving:dict_capabilities", "has capabilities of type dict"),
    ("import-raises", "tests.misbehaving_import:backend", "cannot be imported: RuntimeError: CUDA driver not found"),
    ("forward-raises", "tests.misbehaving:raises", "raises forward raised ValueError: CUDA error"),
    ("forward-aborts", "tests.misbehaving:aborts", "signal SIGABRT"),
    ("wrong-shape", "tests.misbehaving:wrong_shape", "returned logits of shape (2, 3, 10), expected (2, 3, 11)"),
    ("integer-logits", "tests.misbehaving:int_logits", "returned logits of dtype int64, expected float"),
    ("bare-logits", "tests.misbehaving:bare_logits", "forward returned a ndarray of shape (2, 3, 11), not a (logits, cache) pair"),
    ("half-logits-from-float64", "tests.misbehaving:half_logits", "returned float16 logits from a model loaded in float64"),
    ("no-cache-despite-past", "tests.misbehaving:no_cache", "declares past but returned no cache (None)"),
    ("load-raises", "tests.misbehaving:load_raises", "cannot load the parameters (MemoryError: out of device memory)"),
    ("load-returns-none", "tests.misbehaving:load_returns_none", "load-returns-none.load returned None, not a model"),
]


@pytest.mark.parametrize("case,spec,words", FAULTS, ids=[f[0] for f in FAULTS])
def test_a_misbehaving_backend_is_blocked_by_one_named_cause(capsys, tmp_path, case, spec, words):
    out = tmp_path / "out"
    write(out / "report.md", "## an earlier run: passed\n")  # must not survive to contradict this run
    code, stdout, err = main(capsys, "certify", "--report-dir", str(out), "--backend", spec, "--timeout", "60", *FAST)
    assert code == 1 and "Traceback" not in err
    cert = certificates.read(out / "certificate.json")
    (backend,) = cert["backends"]
    assert [p["status"] for p in backend["properties"]] == ["blocked", "blocked"]
    assert words in backend["properties"][0]["message"] and words in stdout
    assert backend["verdict"]["status"] == "not certified"
    assert "an earlier run" not in (out / "report.md").read_text()
    assert {"junit.xml", "report.html"} <= {p.name for p in out.iterdir()}


def test_nan_logits_are_named_as_such(capsys, tmp_path):
    code, stdout, _ = main(capsys, "certify", "--report-dir", str(tmp_path), "--backend",
                           "gpt2_conformance.mutants:softmax_max_from_minus_10000", "--property", "finite_outputs")
    assert code == 1 and "non-finite values (inf or NaN) in the logits" in stdout


def test_a_declined_example_inside_the_scope_fails_with_its_own_kind(capsys, tmp_path):
    code, stdout, _ = main(capsys, "certify", "--report-dir", str(tmp_path), "--backend",
                           "tests.misbehaving:declines_head_dim_1", *FAST)
    cert = certificates.read(tmp_path / "certificate.json")
    assert code == 1 and {p["kind"] for p in cert["backends"][0]["properties"]} == {"unsupported"}
    assert "declined an example inside its declared scope" in stdout


def test_saved_examples_of_an_earlier_run_are_removed(capsys, tmp_path):
    stale = write(tmp_path / "failing-inputs" / "someone__reference_logits__float32.npz", "")
    main(capsys, "certify", "--report-dir", str(tmp_path), "--backend", "reference", *FAST)
    assert not stale.exists()


def test_a_failing_property_saves_a_zip_that_numpy_reads(saved):
    assert zipfile.is_zipfile(saved)


def test_a_hung_backend_is_killed_with_the_processes_it_started(capsys, tmp_path, monkeypatch):
    pid_file = tmp_path / "child.pid"
    monkeypatch.setenv("MISBEHAVING_PID_FILE", str(pid_file))
    code, stdout, _ = main(capsys, "certify", "--report-dir", str(tmp_path / "out"), "--backend",
                           "tests.misbehaving:hangs_with_a_child", "--timeout", "5", *FAST)
    assert code == 1 and "no result within 5 s" in stdout
    stat = Path(f"/proc/{int(pid_file.read_text())}/stat")  # killed with the worker's process group:
    assert not stat.exists() or stat.read_text().split()[2] in "ZX"  # gone, or dead and not yet reaped


def test_backends_whose_names_read_alike_keep_a_failing_input_each(capsys, tmp_path):
    code, stdout, _ = main(capsys, "certify", "--report-dir", str(tmp_path), "--property", "reference_logits",
                           "--backend", "tests.misbehaving:erf_gelu_a_space_b", "--backend",
                           "tests.misbehaving:erf_gelu_a_slash_b")
    saved = sorted((tmp_path / "failing-inputs").glob("*.npz"))
    assert code == 1 and len(saved) == 2, saved
    for path, spec in zip(saved, ["tests.misbehaving:erf_gelu_a_space_b", "tests.misbehaving:erf_gelu_a_slash_b"]):
        with np.load(path) as f:
            assert json.loads(str(f["meta"]))["spec"] in stdout
    specs = {json.loads(str(np.load(p)["meta"]))["spec"] for p in saved}
    assert specs == {"tests.misbehaving:erf_gelu_a_space_b", "tests.misbehaving:erf_gelu_a_slash_b"}


def test_a_backend_name_of_markup_stays_text_in_the_reports(capsys, tmp_path):
    main(capsys, "certify", "--report-dir", str(tmp_path), "--property", "determinism", "--max-examples", "2",
         "--backend", "tests.misbehaving:markup_name")
    md = (tmp_path / "report.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| model property |"))
    assert header.count(" | ") == 1 and "x \\| y" in header and "<b>" not in md and "&lt;b&gt;" in md  # one column
    assert "<b>bold" not in (tmp_path / "report.html").read_text()

"""certify --shard I/N and gpt2-conformance merge: the shards of a run, merged, are the run; and so is a run
whose workers split the work (certify -j N), alone or inside a shard."""
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gpt2_conformance.backends import Subject, resolve
from gpt2_conformance.cases import strategies
from gpt2_conformance.judge import shards
from gpt2_conformance.outcomes import Exit
from gpt2_conformance.properties import REGISTRY, Context
from gpt2_conformance.report.terminal import Progress
from gpt2_conformance.run.merge import unsharded_command
from tests import certificates

ROOT = Path(__file__).resolve().parents[1]
MUTANT = "gpt2_conformance.mutants:mask_added_1e4"  # fails causal_masking: a not-certified verdict to merge
# batch_padding's bounds leave a stratum out: its examples go to the left-overs' search, one more unit
RUN = ["--backend", "reference", "--backend", MUTANT, "--property", "causal_masking", "--property", "reference_logits",
       "--property", "batch_padding"]
COUNT = 3
# what an unsharded run and its merged shards must agree on, for every property (seconds and the environment
# differ; docs/scaling.md)
SAME = ("id", "status", "kind", "dtype", "examples", "max_abs_err", "tolerance", "worst_ratio", "median_ratio",
        "counterexample", "message", "samples", "drawn", "grid", "unseen", "bound", "upstream")


def cli(*args):
    return subprocess.Popen([sys.executable, "-m", "gpt2_conformance.cli", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(proc):
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out + err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(the unsharded run's directory (one worker), [each shard's directory] (two workers each), the directory of
    an unsharded run of three workers): run side by side."""
    base = tmp_path_factory.mktemp("shards")
    dirs = [base / "whole", *(base / f"shard{i}" for i in range(1, COUNT + 1)), base / "jobs"]
    procs = [cli("certify", *RUN, "-j", 1, "--report-dir", dirs[0]),
             *(cli("certify", *RUN, "--shard", f"{i}/{COUNT}", "-j", 2, "--report-dir", dirs[i])
               for i in range(1, COUNT + 1)),
             cli("certify", *RUN, "-j", 3, "--report-dir", dirs[-1])]
    codes = []
    for proc in procs:
        code, out = finished(proc)
        assert code in (Exit.NOT_CERTIFIED, Exit.PARTIAL), out
        codes.append(code)
    # the mutant fails causal_masking: in the whole run, and in the shard whose search finds it; another is partial
    assert codes[0] == codes[-1] == Exit.NOT_CERTIFIED and Exit.NOT_CERTIFIED in codes[1:-1], codes
    return dirs[0], dirs[1:-1], dirs[-1]


def same_run(cert, unsharded):
    """Every backend's verdict, input contract and property results are the unsharded run's."""
    for m, u in zip(cert["backends"], unsharded["backends"], strict=True):
        assert m["verdict"] == u["verdict"] and m["passed"] == u["passed"]
        assert m["input_contract"] == u["input_contract"]
        for mp, up in zip(m["properties"], u["properties"], strict=True):
            assert {k: mp[k] for k in SAME} == {k: up[k] for k in SAME}, mp["id"]


def test_merged_shards_give_the_unsharded_verdict_and_results(runs, tmp_path):
    whole, parts, _ = runs
    code, out = finished(cli("merge", *(d / "certificate.json" for d in reversed(parts)), "--report-dir", tmp_path))
    unsharded = certificates.read(whole / "certificate.json")
    merged = certificates.read(tmp_path / "certificate.json")
    assert code == Exit.NOT_CERTIFIED, out
    assert "shard" not in merged and merged["partial"] == unsharded["partial"]
    assert merged["command"] == unsharded_command(certificates.read(parts[0] / "certificate.json")["command"])
    same_run(merged, unsharded)
    labels = [b["verdict"]["label"] for b in merged["backends"]]
    assert labels[0].startswith("partial") and labels[1].startswith("not certified: causal_masking failed")
    assert all((tmp_path / name).exists() for name in ("junit.xml", "report.md", "report.html"))


def test_workers_splitting_a_run_give_its_verdict_and_results(runs):
    whole, _, jobs = runs
    cert = certificates.read(jobs / "certificate.json")
    same_run(cert, certificates.read(whole / "certificate.json"))
    # the failing inputs are -j 1's: one per failed property, the one its reproduction replays, and nothing else
    replays = [shlex.split(p["reproduction"])[2] for b in cert["backends"] for p in b["properties"]
               if p["status"] == "failed"]
    assert replays and sorted(Path(r).name for r in replays) == sorted(p.name for p in (jobs / "failing-inputs").iterdir())
    assert all(Path(r).parent == jobs / "failing-inputs" for r in replays)


def test_each_shard_is_partial_and_runs_a_share_of_the_strata(runs):
    _, parts, _ = runs
    certs = [certificates.read(d / "certificate.json") for d in parts]
    ran = {}
    for i, cert in enumerate(certs, start=1):
        assert cert["shard"]["index"] == i and cert["shard"]["count"] == COUNT and not cert["passed"]
        reference = cert["backends"][0]
        assert reference["verdict"]["status"] == "partial"
        assert f"shard {i}/{COUNT} of a run" in reference["verdict"]["label"]
        for p in reference["properties"]:
            units = ran.setdefault(p["id"], {"units": p["strata"]["units"], "ran": []})
            assert p["strata"]["units"] == units["units"]
            units["ran"] += [r["index"] for r in p["strata"]["searched"]]
    assert sorted(ran) == ["batch_padding", "causal_masking", "reference_logits"]
    # each search in one shard; batch_padding's left-overs' search (its last unit) in place of the stratum left out
    assert all(sorted(u["ran"]) == u["units"] and len(u["units"]) > COUNT for u in ran.values())
    assert ran["batch_padding"]["units"][-1] == len(ran["batch_padding"]["units"])


def test_merge_refuses_shards_that_are_not_one_whole_run(runs, tmp_path):
    _, parts, _ = runs
    paths = [d / "certificate.json" for d in parts]
    other = json.loads(paths[2].read_text())
    other["seed"] = 7
    (tmp_path / "other.json").write_text(json.dumps(other))
    for args, says in [(paths[:2], "shard 3/3 missing"), ([*paths, paths[0]], "shard 1/3 given more than once"),
                       ([*paths[:2], tmp_path / "other.json"], "seed 7 differs"),
                       ([ROOT / "tests" / "data" / "nothing.json"], "cannot read a certificate")]:
        code, out = finished(cli("merge", *args, "--report-dir", tmp_path / "out"))
        assert code == Exit.USAGE and says in out, out


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0"])
def test_a_shard_outside_1_to_n_is_a_usage_error(text):
    code, out = finished(cli("certify", "--backend", "reference", "--shard", text))
    assert code == Exit.USAGE and "--shard" in out


@pytest.mark.parametrize("text", ["0", "-2", "two"])
def test_jobs_are_a_positive_number_or_auto(text, monkeypatch):
    code, out = finished(cli("certify", "--backend", "reference", "-j", text))
    assert code == Exit.USAGE and "--jobs" in out
    monkeypatch.setenv("GPT2_CONFORMANCE_JOBS", text)  # the default's source is named
    code, out = finished(cli("certify", "--backend", "reference"))
    assert code == Exit.USAGE and "$GPT2_CONFORMANCE_JOBS" in out


def test_the_sub_shards_of_a_shard_split_its_units():
    """-j J inside --shard I/N: worker j is shard I + j N of N J, and the J of them own what shard I/N owns."""
    outer = shards.Shard(2, 3)
    inner = outer.split(4)
    assert inner[0] == shards.Shard(2, 12) and shards.Shard(1, 1).split(2) == [shards.Shard(1, 2), shards.Shard(2, 2)]
    for k in range(100):
        assert sum(s.owns(k, 5) for s in inner) == outer.owns(k, 5)


def test_the_deal_gives_every_unit_to_one_shard():
    seen = [[k for k in range(20) if shards.Shard(i, COUNT).owns(k, offset=1)] for i in range(1, COUNT + 1)]
    assert sorted(k for ks in seen for k in ks) == list(range(20))
    assert max(map(len, seen)) - min(map(len, seen)) <= 1


def test_the_progress_line_shows_what_each_worker_runs(capsys):
    """certify -j N on a terminal: one line naming the property each worker runs, not whichever reported last."""
    line = Progress()
    line.show("reference", "causal_masking", 3, worker=0)
    line.show("reference", "kv_cache", 0, worker=1)
    line.show("reference", "causal_masking", 7, worker=0)
    assert capsys.readouterr().err.rsplit("\r", 1)[-1].rstrip() == "  reference / causal_masking: 7 examples; kv_cache"
    line.clear()
    line.show("reference", "tied_head", 1, worker=1)
    assert capsys.readouterr().err.rsplit("\r", 1)[-1].rstrip() == "  reference / tied_head: 1 example"


GOLDEN = {"official_logits", "known_answers"}  # golden cases: one search, run whole by one shard


@pytest.mark.parametrize("pid", [pid for pid, p in REGISTRY.items() if p.subject == Subject.MODEL])
def test_every_model_property_asks_for_its_cases_before_drawing(pid):
    """The deal learns without running a search which strata lie outside a property's bounds (their examples go to
    the left-overs' search): the property must ask ctx.cases() before drawing anything else."""
    backend = resolve("reference")
    ctx = Context(backend, backend.capabilities.core_dtype, strategies.Space())
    seen = {shards._probe(REGISTRY[pid], ctx, stratum) for stratum, _ in strategies.strata(ctx.space, 500, pid)}
    if pid.split("[")[0] in GOLDEN:
        assert seen == {shards._OTHER}
    else:
        assert seen <= {shards._GENERATED, shards._OUTSIDE} and shards._GENERATED in seen

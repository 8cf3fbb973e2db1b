"""benchmarks/table.py turns one benchmark run into the tables of docs/performance.md."""
import importlib.util
import json
from pathlib import Path

spec = importlib.util.spec_from_file_location("table", Path(__file__).resolve().parents[1] / "benchmarks" / "table.py")
table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(table)


def bench(median, **info):
    return {"stats": {"median": median}, "extra_info": info}


def certify(backend, cache, wall, forward, load, **info):
    props = {"causal_masking": {"examples": 50, "seconds": wall / 2, "forward_seconds": forward}}
    return bench(wall, kind="certify", backend=backend, cache=cache, wall_seconds=wall, forward_seconds=forward,
                 load_seconds=load, properties=props, **info)


RUN = {
    "datetime": "2026-11-27T18:00:00", "machine_info": {"cpu_count": 2, "blas_env": {"OPENBLAS_CORETYPE": "Haswell"}},
    "benchmarks": [
        bench(2.0, kind="forward", backend="reference", dtype="float64", seq=64),
        bench(0.5, kind="forward", backend="hf-torch-eager", dtype="float32", seq=64),
        bench(1.6, kind="matmul_bound", dtype="float64", seq=64),
        bench(6.0, kind="backward", backend="reference", dtype="float64", seq=64),
        certify("reference", "cold", 40.0, 10.0, 0.0),
        certify("reference", "warm", 20.0, 18.0, 0.0),
        certify("hf-torch-eager", "cold", 29.0, 5.0, 3.0),
        certify("hf-torch-eager", "warm", 16.0, 5.0, 3.0, jobs=2),
        bench(300.0, kind="pytest", wall_seconds=300.0, load_seconds=30.0, forward_seconds=30.0,
              tests="700 passed in 300.00s"),
    ],
}


def test_ratios_and_targets_come_from_the_run():
    text = table.tables(RUN)
    assert "| hf-torch-eager | float32 | 64 | 0.500 | 128 | 1.00 |" in text
    assert "| reference | float64 | 64 | 2.000 | 32 | 4.00 |" in text
    assert "| 64 | 2.000 | 1.600 | 1.25 |" in text  # reference / matmul bound
    assert "| 64 | 2.000 | 6.000 | 2.00 |" in text  # (loss_and_grads - forward) / forward
    assert "| reference float64 backward ≤ 3× its forward, seq 64 | 2.00× | yes |" in text
    assert "| harness overhead ≤ 10%: reference, cold cache | 75% | **no** |" in text
    assert "| harness overhead ≤ 10%: reference, warm cache | 10% | yes |" in text
    assert "oracle 20.0 s, forward 10.0 s | **no** |" in text  # cold - warm against the backend's forward time
    assert "certify hf-torch-eager at ci (≥ 50 examples per property that ran) ≤ 30 s, cold cache | 29.0 s with 1 " \
           "worker, ≥ 50 examples; forward + load 28% of the workers' time | yes |" in text
    assert "≤ 15 s, warm cache | 16.0 s with 2 workers, ≥ 50 examples; forward + load 25% of the workers' time" in text
    assert "in a fresh clone ≤ 4 min | 5.0 min (700 passed in 300.00s); the plugin's items' forward + load 10% of " \
           "the two workers' time | **no** |" in text
    assert "OPENBLAS_CORETYPE=Haswell" in text and "time to kill a mutant ≤ 1 s | not measured" in text


def test_write_replaces_only_the_marked_block(tmp_path):
    results, doc = tmp_path / "run.json", tmp_path / "performance.md"
    results.write_text(json.dumps(RUN))
    doc.write_text(f"before\n{table.BEGIN}\nSTALE TABLE\n{table.END}\nafter\n")
    assert table.main([str(results), "--write", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "STALE TABLE" not in text and "| 64 |" in text


def test_write_refuses_a_file_without_the_markers(tmp_path):
    results, doc = tmp_path / "run.json", tmp_path / "performance.md"
    results.write_text(json.dumps(RUN))
    doc.write_text("no markers\n")
    assert table.main([str(results), "--write", str(doc)]) == 2
    assert doc.read_text() == "no markers\n"


def test_the_median_time_to_kill_is_over_every_mutant():
    kills = [bench(t, kind="kill", mutant=f"m{t}", property="p") for t in (0.5, 3.0, 0.8, 2.0)]
    text = table.tables({**RUN, "benchmarks": RUN["benchmarks"] + kills})
    assert "| 1.4 s | **no** |" in text  # the median of 0.5, 0.8, 2.0, 3.0

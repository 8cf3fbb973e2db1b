"""The README's backend table is written from certificates."""
from gpt2_conformance.report.backend_table import table


def prop(id, status, err=None, ratio=None, median=None, seconds=1.0):
    return {"id": id, "status": status, "max_abs_err": err, "worst_ratio": ratio, "median_ratio": median,
            "seconds": seconds}


def backend(name, label, level, *props):
    return {"name": name, "verdict": {"label": label, "level": level}, "properties": list(props)}


def test_rows_say_what_the_certificate_says():
    cert = {"max_examples": None, "profile": "ci", "backends": [
        backend("good", "certified", "float32", prop("reference_logits", "passed", 1e-6, 0.1, 0.05, 2.0)),
        backend("odd", "certified with known deviations (reference_logits)", "float32",
                prop("reference_logits", "xfailed", 3e-3), prop("kv_cache", "passed", 0.0, 0.5, 0.01)),
        backend("half", "certified at bfloat16", "bfloat16", prop("reference_logits", "passed", "inf", 0.2, 0.1)),
        backend("bad", "not certified: tied_head failed (tolerance)", "float32", prop("tied_head", "failed", 6.8)),
    ]}
    lines = table([cert]).splitlines()
    assert lines[2] == "| `good` | certified | float32 | 1e-6 | 0.1 | 0.05 | ci | 2 |"
    assert lines[3] == "| `odd` | certified with known deviations (reference_logits) | float32 | 0.003 | 0.5 | 0.01 | ci | 2 |"
    assert lines[4] == "| `half` | certified at bfloat16 | bfloat16 | inf | 0.2 | 0.1 | ci | 1 |"
    assert lines[5] == "| `bad` | not certified: tied_head failed (tolerance) | float32 | - | - | - | ci | 1 |"

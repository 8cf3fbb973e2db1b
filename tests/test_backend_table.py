"""The README's backend table is written from certificates."""
from conformance.backend_table import table


def prop(id, status, err=None, ratio=None, seconds=1.0):
    return {"id": id, "status": status, "max_abs_err": err, "worst_ratio": ratio, "seconds": seconds}


def test_rows_say_what_the_certificate_says():
    cert = {"max_examples": None, "profile": "ci", "backends": [
        {"name": "good", "passed": True, "properties": [prop("reference_logits", "passed", 1e-6, 0.1, 2.0)]},
        {"name": "odd", "passed": True, "properties": [prop("reference_logits", "xfailed", 3e-3),
                                                       prop("kv_cache", "passed", 0.0, 0.5)]},
        {"name": "bad", "passed": False, "properties": [prop("tied_head", "failed", 6.8)]},
    ]}
    lines = table([cert]).splitlines()
    assert lines[2] == "| `good` | certified | 1e-06 | 0.1 | ci | 2 |"
    assert lines[3] == "| `odd` | certified (known deviations: reference_logits) | 0.003 | 0.5 | ci | 2 |"
    assert lines[4] == "| `bad` | not certified: tied_head | - | - | ci | 1 |"

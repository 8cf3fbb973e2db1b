"""Every property against every selected backend (pytest --backend SPEC to narrow)."""
import pytest
from hypothesis import settings

from conformance.backends import resolve
from conformance.properties import REGISTRY
from conformance.runner import run_property


@pytest.mark.parametrize("property_id", list(REGISTRY))
def test_property(backend_spec, property_id, record_property):
    result = run_property(REGISTRY[property_id], resolve(backend_spec), profile=settings())
    for key in ("examples", "max_abs_err", "tolerance", "worst_ratio"):
        record_property(key, getattr(result, key))
    if result.status == "skipped":
        pytest.skip(result.message)
    assert result.status == "passed", f"{result.message}\ncounterexample: {result.counterexample}"

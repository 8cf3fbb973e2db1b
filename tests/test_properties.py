"""Every property against every selected backend (pytest --backend SPEC to narrow)."""
import functools

import pytest
from hypothesis import settings

from conformance import expectations
from conformance.backends import resolve
from conformance.properties import REGISTRY
from conformance.runner import essentials, run_property


@functools.cache
def essentials_failure(spec):
    return essentials(resolve(spec))


def test_essentials(backend_spec):
    """The backend loads canonical params and returns logits of the right shape (else its properties are blocked)."""
    failed = essentials_failure(backend_spec)
    assert failed is None, f"{failed[1]} (failure kind: {failed[0]})"


@pytest.mark.parametrize("property_id", list(REGISTRY))
def test_property(backend_spec, property_id, record_property, expected_failures):
    if essentials_failure(backend_spec):
        pytest.skip(f"blocked by test_essentials[{backend_spec}]")
    backend = resolve(backend_spec)
    result = run_property(REGISTRY[property_id], backend, profile=settings())
    result = expectations.apply(expected_failures(backend.name, backend_spec), result)
    for key in ("status", "kind", "examples", "max_abs_err", "tolerance", "worst_ratio"):
        record_property(key, getattr(result, key))
    if result.status == "skipped":
        pytest.skip(result.message)
    if result.status == "xfailed":
        pytest.xfail(result.message)
    reproduce = (f"gpt2-conformance certify --backend {backend_spec} --property {property_id} "
                 f"--profile {settings.get_current_profile_name()}")
    assert result.status == "passed", f"{result.message}\ncounterexample: {result.counterexample}\nreproduce: {reproduce}"

"""pytest setup: --backend selects what the property tests run against; --expectations lists a backend's
known failures; Hypothesis profiles are ours."""
import hypothesis
import pytest

from conformance import profiles

hypothesis.settings.load_profile("dev")  # --hypothesis-profile=ci|thorough overrides this


def pytest_addoption(parser):
    parser.addoption("--backend", action="append", metavar="SPEC",
                     help="backend to run the properties against (repeatable; default: every available bundled one)")
    parser.addoption("--expectations", action="append", default=[], metavar="FILE",
                     help="a backend's expected failures (TOML, see conformance/expectations.py; repeatable)")
    parser.addoption("--checkpoint", metavar="DIR",
                     help="run the properties on the weights of this official or Hugging Face checkpoint directory")


def pytest_configure(config):
    from conformance import expectations, strategies
    from reference.params import InvalidParams

    try:
        config.expectation_files = [expectations.load(f) for f in config.getoption("expectations")]
    except expectations.ExpectationError as e:
        raise pytest.UsageError(str(e)) from None
    if config.getoption("checkpoint"):
        try:
            strategies.use_checkpoint(config.getoption("checkpoint"))
        except InvalidParams as e:
            raise pytest.UsageError(f"--checkpoint: {e}") from None


def pytest_generate_tests(metafunc):
    if "backend_spec" in metafunc.fixturenames:
        from conformance.backends import available_bundled

        metafunc.parametrize("backend_spec", metafunc.config.getoption("backend") or available_bundled())


@pytest.fixture
def expected_failures(request):
    """(backend name, spec) -> the expected-failure entries listed for that backend."""
    files = request.config.expectation_files
    return lambda name, spec: [e for f in files if f.for_backend(name, spec) for e in f.entries]


assert profiles.PROFILES  # importing registers the profiles before Hypothesis reads --hypothesis-profile

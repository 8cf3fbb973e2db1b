"""pytest setup: --backend selects what the property tests run against; Hypothesis profiles are ours."""
import hypothesis

from conformance import profiles

hypothesis.settings.load_profile("dev")  # --hypothesis-profile=ci|thorough overrides this


def pytest_addoption(parser):
    parser.addoption("--backend", action="append", metavar="SPEC",
                     help="backend to run the properties against (repeatable; default: every available bundled one)")
    parser.addoption("--checkpoint", metavar="DIR",
                     help="run the properties on the weights of this official or Hugging Face checkpoint directory")


def pytest_configure(config):
    if config.getoption("checkpoint"):
        import pytest

        from conformance import strategies
        from reference.params import InvalidParams

        try:
            strategies.use_checkpoint(config.getoption("checkpoint"))
        except InvalidParams as e:
            raise pytest.UsageError(f"--checkpoint: {e}") from None


def pytest_generate_tests(metafunc):
    if "backend_spec" in metafunc.fixturenames:
        from conformance.backends import available_bundled

        metafunc.parametrize("backend_spec", metafunc.config.getoption("backend") or available_bundled())


assert profiles.PROFILES  # importing registers the profiles before Hypothesis reads --hypothesis-profile

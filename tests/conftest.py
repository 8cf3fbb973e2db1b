"""Every certificate any test wrote is strict JSON that the shipped schema accepts (checked once per
session, over the session's temporary directories)."""
import os

import pytest

from tests import certificates

# pytest -n's workers already share the cores: a certify that a test starts runs one worker, not one per CPU, each
# starting torch and transformers again (a third of the subprocess tests' time). Tests of -j pass it explicitly.
os.environ.setdefault("GPT2_CONFORMANCE_JOBS", "1")


@pytest.fixture(scope="session", autouse=True)
def every_certificate_is_valid(tmp_path_factory):
    yield
    for path in tmp_path_factory.getbasetemp().rglob("certificate.json"):
        certificates.read(path)

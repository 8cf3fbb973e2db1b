"""Every certificate any test wrote is strict JSON that the shipped schema accepts (checked once per
session, over the session's temporary directories)."""
import pytest

from tests import certificates


@pytest.fixture(scope="session", autouse=True)
def every_certificate_is_valid(tmp_path_factory):
    yield
    for path in tmp_path_factory.getbasetemp().rglob("certificate.json"):
        certificates.read(path)

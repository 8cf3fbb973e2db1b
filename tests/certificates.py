"""Certificates as the tests read them: strict JSON (no NaN or Infinity), valid against the shipped schema."""
import json

import jsonschema

from gpt2_conformance.report.certificate import SCHEMA

VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))


def _reject(constant):
    raise ValueError(f"not strict JSON: {constant}")


def read(path):
    """The certificate at path; fails the test unless it is strict JSON that the schema accepts."""
    cert = json.loads(path.read_text(), parse_constant=_reject)
    VALIDATOR.validate(cert)
    return cert

"""The suite's own tests. The properties themselves come from the pytest plugin (gpt2_conformance.pytest_plugin),
through tests/test_gpt2_conformance.py: `pytest --gpt2-backend bundled` runs them on every available bundled
backend."""

"""The suite's own tests. The properties themselves come from the pytest plugin (conformance.pytest_plugin):
`pytest --gpt2-backend bundled` adds them for every available bundled backend."""

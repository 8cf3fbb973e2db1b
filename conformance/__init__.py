"""gpt2-conformance: property-based conformance tests for GPT-2 implementations."""
__version__ = "0.2.0"

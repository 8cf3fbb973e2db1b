"""Every property of the suite on the backends named by --gpt2-backend: the plugin parametrizes this test."""


def test_gpt2_conformance(gpt2_property):
    gpt2_property.check()

"""The bundled adapters, each a thin Backend over one implementation; imported only when named."""

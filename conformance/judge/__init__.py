"""How a backend's outputs are judged: tolerances derived from the authority, the runner that searches
each property, what its examples could see (coverage), known deviations (expectations), and the verdict."""

"""How a certification runs: each backend in a worker process of its own (isolation, worker), its input
contract probed (contract), saved failures replayed (replay), and the suite's own power proven (selftest)."""

"""What a backend is run on: drawn configurations, weights and tokens (strategies, weights), the golden
cases made by OpenAI's own code (golden, official), checkpoints on disk, and the named Hypothesis profiles."""

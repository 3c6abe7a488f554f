"""Ray Tune trainables: thin wrappers that turn a trial config into one GLASS training run."""

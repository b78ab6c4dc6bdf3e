"""Studies: each a config dataclass plus ``run(config, out) -> rows``, exposed by the CLI."""

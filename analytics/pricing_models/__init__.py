"""One module per provider price model; each exposes ``price(usage, catalogue) -> ModelResult``."""

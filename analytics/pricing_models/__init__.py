"""One module per provider price model; each defines ``price(usage, catalogue) -> ModelResult`` and
registers it as a typed ``PriceModel`` (id, label, price) in ``registry.PRICE_MODELS``."""

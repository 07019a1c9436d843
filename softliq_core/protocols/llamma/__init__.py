"""Curve's LLAMMA (crvUSD / LlamaLend) band AMM, in exact integers: see ``bands``."""

"""Compound III (Comet) absorb and buyCollateral math."""

"""Euler v2 (Euler Vault Kit) liquidation math."""

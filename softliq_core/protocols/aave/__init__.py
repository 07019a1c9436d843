"""Aave V3: exact math, reserves, positions, health factor, liquidation and the Pool per version."""

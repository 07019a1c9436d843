"""MakerDAO Liquidations 2.0 (dss Dog, Clipper, abaci) math."""

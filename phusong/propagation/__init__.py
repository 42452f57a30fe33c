"""Propagation physics: path-loss models (one module per Recommendation) and the radial terrain kernel; no file I/O."""

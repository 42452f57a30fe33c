"""Network coverage: best server, second best, SINR and coverage per layer, from site lists and terrain passes."""

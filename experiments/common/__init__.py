"""Helpers every study shares: the absl main (CLI), figures, scikit-learn baselines."""

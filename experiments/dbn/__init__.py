"""Deep belief net: greedy RBM pretraining vs random initialisation with few labels."""

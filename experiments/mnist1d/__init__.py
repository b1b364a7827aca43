"""MNIST-1D (Greydanus 2020): the paper's logistic, MLP, CNN and GRU baselines."""

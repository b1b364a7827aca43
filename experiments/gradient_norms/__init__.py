"""Vanishing/exploding gradients measured: a tanh RNN's sigma_max(W) vs the LSTM's forget bias."""

"""The adding problem (Hochreiter & Schmidhuber, 1997): LSTM vs GRU vs vanilla RNN at T = 200."""

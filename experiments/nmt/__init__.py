"""Chapter 4: neural machine translation with encoder–decoder LSTMs, attention and beam search."""

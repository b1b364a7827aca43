"""The copy task (Hochreiter & Schmidhuber, 1997; Arjovsky et al., 2016 form), small."""

"""Translate one sentence with a trained experiments.nmt run (newest checkpoint, beam search)."""

"""Heads after the lecture's three application figures: many-to-one, many-to-many, one-to-many.

``ManyToOne`` (sequence classification from the last valid output), ``ManyToMany`` (per-step
logits), ``OneToMany`` (generation that feeds back the previous token or output) and
``RecurrentClassifier``, a many-to-one classifier with the project-wide call
``Model(num_classes=...)(x, train=...) -> logits``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from dl_jax.models.recurrent.cells import CELLS
from dl_jax.models.recurrent.layers import Bidirectional, make_layer, zero_carry
from dl_jax.models.recurrent.masking import last_valid

Array = jax.Array
Carry = Any


class ManyToOne(nn.Module):
    """Sequence classification: logits from the last valid output of an encoder layer.

    With a ``Bidirectional`` encoder the backward half of the last valid output has read one
    element only; ``RecurrentClassifier`` reads that half at step 0 instead.

    Attributes:
      encoder: layer mapping ``(batch, time, in) -> (batch, time, f)`` with a ``seq_lengths``
        keyword.
      num_classes: number of logits.
    """

    encoder: nn.Module
    num_classes: int

    @nn.compact
    def __call__(self, x: Array, *, seq_lengths: Array | None = None) -> Array:
        """Logits ``(batch, num_classes)`` from ``encoder(x)[b, seq_lengths[b] - 1]``."""
        outputs = self.encoder(x, seq_lengths=seq_lengths)
        return nn.Dense(self.num_classes, name="head")(last_valid(outputs, seq_lengths))


class ManyToMany(nn.Module):
    """Per-step logits (e.g. tagging or next-token prediction) from an encoder layer.

    Attributes:
      encoder: layer mapping ``(batch, time, in) -> (batch, time, f)``.
      num_classes: number of logits per step.
    """

    encoder: nn.Module
    num_classes: int

    @nn.compact
    def __call__(self, x: Array, *, seq_lengths: Array | None = None) -> Array:
        """Logits ``(batch, time, num_classes)``; steps past a length see a zero encoder output."""
        outputs = self.encoder(x, seq_lengths=seq_lengths)
        return nn.Dense(self.num_classes, name="head")(outputs)


class _GenerationStep(nn.Module):
    num_outputs: int
    features: int
    cell: str
    feedback: str
    embed_features: int
    greedy: bool
    temperature: float

    @nn.compact
    def __call__(self, state, step_key):
        carry, previous = state
        if self.feedback == "token":
            x = nn.Embed(self.num_outputs, self.embed_features, name="embed")(previous)
        else:
            x = previous
        carry, hidden = CELLS[self.cell](self.features, name="cell")(carry, x)
        outputs = nn.Dense(self.num_outputs, name="readout")(hidden)
        if self.feedback == "output":
            following = outputs
        elif self.greedy:
            following = jnp.argmax(outputs, axis=-1)
        else:
            following = jax.random.categorical(step_key, outputs / self.temperature, axis=-1)
        return (carry, following), (outputs, following)


class OneToMany(nn.Module):
    """Generation from one input: each step's output (or chosen token) is the next step's input.

    ``feedback='token'``: the first input is a token id ``(batch,)``; each step embeds the
    previous token, steps the cell, reads out logits over ``num_outputs`` tokens and picks the
    next token greedily (argmax) or, with ``sample_rng``, by sampling at ``temperature``.
    ``feedback='output'``: the first input is a vector ``(batch, num_outputs)`` and each step's
    read-out vector is fed back as is.

    Attributes:
      num_outputs: vocabulary size (token mode) or output/input width (output mode).
      features: cell hidden size.
      cell: ``'rnn'``, ``'lstm'`` or ``'gru'`` (reference cells, stepped with ``nn.scan``).
      feedback: ``'token'`` or ``'output'``.
      embed_features: token embedding size (default ``features``).
    """

    num_outputs: int
    features: int
    cell: str = "lstm"
    feedback: str = "token"
    embed_features: int | None = None

    @nn.compact
    def __call__(self, first_input: Array, num_steps: int, *, initial_carry: Carry = None,
                 sample_rng: Array | None = None, temperature: float = 1.0):
        """Generates ``num_steps`` steps.

        Args:
          first_input: token ids ``(batch,)`` or vectors ``(batch, num_outputs)``.
          num_steps: number of generated steps (static).
          initial_carry: cell carry to start from (zeros if None), e.g. an encoder's summary.
          sample_rng: typed PRNG key for sampling (token mode); None means greedy decoding.
          temperature: softmax temperature when sampling.

        Returns:
          ``(outputs, tokens)``: ``outputs`` is ``(batch, num_steps, num_outputs)`` (logits in
          token mode); ``tokens`` is ``(batch, num_steps)`` of chosen ids in token mode, None in
          output mode.
        """
        if self.feedback not in ("token", "output"):
            raise ValueError(f"feedback must be 'token' or 'output', got {self.feedback!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
        # The fed-back value is the scan carry, so its dtype must not change between steps.
        first_input = (first_input.astype(jnp.int32) if self.feedback == "token"
                       else first_input.astype(jnp.float32))
        batch = first_input.shape[0]
        carry = (zero_carry(self.cell, batch, self.features)
                 if initial_carry is None else initial_carry)
        keys = jax.random.split(
            jax.random.key(0) if sample_rng is None else sample_rng, num_steps)
        scan_step = nn.scan(_GenerationStep, variable_broadcast="params",
                            split_rngs={"params": False}, in_axes=0, out_axes=0,
                            length=num_steps)
        step = scan_step(self.num_outputs, self.features, self.cell, self.feedback,
                         self.embed_features or self.features, sample_rng is None, temperature,
                         name="generator")
        _, (outputs, chosen) = step((carry, first_input), keys)
        outputs = jnp.swapaxes(outputs, 0, 1)
        if self.feedback == "output":
            return outputs, None
        return outputs, jnp.swapaxes(chosen, 0, 1)


class RecurrentClassifier(nn.Module):
    """Many-to-one sequence classifier with the project-wide call ``(x, *, train) -> logits``.

    Input ``(batch, time, in)``, or ``(batch, time)`` which gets a feature axis of 1 (e.g. an
    MNIST-1D signal read as a sequence). Unidirectional: logits from the last valid output of
    the (stacked) layer. Bidirectional: every layer is a ``Bidirectional`` pair fed the previous
    layer's concatenated outputs, and the logits read the forward half at the last valid step
    and the backward half at step 0 (each direction's full summary).

    Attributes:
      num_classes: number of logits.
      cell: ``'rnn'``, ``'lstm'`` or ``'gru'``.
      features: hidden size per direction.
      num_layers: stacked layers.
      bidirectional: read the sequences in both directions.
      unroll: scan unroll factor (1: rolled; configs pass ``default_unroll(backend)``).
    """

    num_classes: int
    cell: str = "lstm"
    features: int = 64
    num_layers: int = 1
    bidirectional: bool = False
    unroll: int = 1

    @nn.compact
    def __call__(self, x: Array, *, train: bool = False,
                 seq_lengths: Array | None = None) -> Array:
        """Logits ``(batch, num_classes)``.

        Args:
          x: ``(batch, time, in)`` or ``(batch, time)``.
          train: unused (no dropout or batch statistics); part of the shared contract.
          seq_lengths: optional ``(batch,)`` valid lengths.

        Returns:
          Logits.
        """
        del train
        if x.ndim == 2:
            x = x[..., None]
        if not self.bidirectional:
            encoder = make_layer(self.cell, self.features, num_layers=self.num_layers,
                                 unroll=self.unroll, name="encoder")
            summary = last_valid(encoder(x, seq_lengths=seq_lengths), seq_lengths)
        else:
            outputs = x
            for index in range(self.num_layers):
                pair = Bidirectional(
                    make_layer(self.cell, self.features, unroll=self.unroll,
                               name=f"forward_{index}"),
                    make_layer(self.cell, self.features, unroll=self.unroll,
                               name=f"backward_{index}"),
                    name=f"bidirectional_{index}")
                outputs = pair(outputs, seq_lengths=seq_lengths)
            summary = jnp.concatenate([
                last_valid(outputs[..., : self.features], seq_lengths),
                outputs[:, 0, self.features:],
            ], axis=-1)
        return nn.Dense(self.num_classes, name="head")(summary)


__all__ = ["ManyToMany", "ManyToOne", "OneToMany", "RecurrentClassifier"]

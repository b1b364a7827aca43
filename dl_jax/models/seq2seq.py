"""Encoder–decoder LSTMs for translation (chapter 4), with or without attention.

* Encoder: embeddings, then the library's stacked (``num_layers``) and optionally bidirectional
  ``LSTM`` over the source, masked by its length; Sutskever et al. (2014)'s source reversal as an
  option (each sentence reversed within its length, padding stays at the end).
* Decoder: an ``LSTM`` of the same depth initialised from the encoder's final state (through a
  ``tanh`` bridge when the encoder is bidirectional), fed the previous target token (teacher
  forcing in training, its own output when decoding, see ``dl_jax.decoding``).
* Attention (Luong et al., 2015, global attention on the decoder's top state ``h_t``): scores
  against every encoder output ``e_s`` — ``additive`` ``v^T tanh(W_q h_t + W_k e_s)`` (Bahdanau
  et al., 2015) or ``multiplicative`` ``h_t^T W e_s`` (Luong's "general") — padding masked,
  softmax over the source, context ``c_t = sum_s a_ts e_s``, output ``tanh(W_c [c_t; h_t])``.
  ``none`` is the fixed-vector encoder–decoder (Sutskever et al. 2014; Cho et al. 2014): the
  only path from the source to the output is the encoder's final state, output ``tanh(W_c h_t)``.

The decoder LSTM is not fed the previous attentional vector, so in training it runs over the
whole target as one fast scan and attention is one batched matmul; decoding calls the same
``decode`` on one step at a time with the carried state.

Inputs are ``{'source': int[B, S], 'target_in': int[B, T]}`` with ``PAD = 0`` padding; the output
is logits ``[B, T, target_vocab]``. ``TOKEN_CROSS_ENTROPY`` is the matching trainer objective.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from dl_jax.models.recurrent import LSTM, Bidirectional, reverse_sequences
from dl_jax.training.steps import Objective

PAD = 0
ATTENTIONS = ("none", "additive", "multiplicative")


class Seq2Seq(nn.Module):
    """Encoder–decoder LSTM translator.

    Attributes:
      source_vocab: source vocabulary size (ids ``< source_vocab``; 0 is padding).
      target_vocab: target vocabulary size (the logits' size).
      embed_dim: embedding size of both sides.
      features: LSTM hidden size (each direction).
      num_layers: stacked LSTM layers in the encoder and in the decoder.
      bidirectional: bidirectional encoder (memory of size ``2 * features``).
      attention: ``'none'``, ``'additive'`` or ``'multiplicative'``.
      attention_dim: size of the additive attention's hidden layer.
      reverse_source: read each source sentence backwards (Sutskever et al., 2014).
      unroll: scan unroll factor of the LSTMs (resolved per backend in the config).
    """

    source_vocab: int = 0
    target_vocab: int = 0
    embed_dim: int = 64
    features: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    attention: str = "additive"
    attention_dim: int = 64
    reverse_source: bool = False
    unroll: int = 1

    def __post_init__(self):
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}, "
                             f"got {self.attention!r}")
        if self.source_vocab <= 0 or self.target_vocab <= 0:
            raise ValueError("source_vocab and target_vocab must be positive")
        super().__post_init__()

    def setup(self):
        """Embeddings, encoder, decoder, attention and output layers."""

        def lstm():
            return LSTM(self.features, num_layers=self.num_layers, unroll=self.unroll)

        self.source_embed = nn.Embed(self.source_vocab, self.embed_dim)
        self.target_embed = nn.Embed(self.target_vocab, self.embed_dim)
        self.encoder = Bidirectional(lstm(), lstm()) if self.bidirectional else lstm()
        if self.bidirectional:
            self.bridge_c = nn.Dense(self.features)
            self.bridge_h = nn.Dense(self.features)
        self.decoder = lstm()
        if self.attention == "additive":
            self.attn_query = nn.Dense(self.attention_dim, use_bias=False)
            self.attn_key = nn.Dense(self.attention_dim)
            self.attn_v = nn.Dense(1, use_bias=False)
        elif self.attention == "multiplicative":
            self.attn_key = nn.Dense(self.features, use_bias=False)
        self.combine = nn.Dense(self.features)
        self.readout = nn.Dense(self.target_vocab)

    def encode(self, source: jax.Array):
        """Reads the source.

        Args:
          source: ``int[B, S]``, padded with 0.

        Returns:
          ``(memory [B, S, F], memory_mask bool[B, S], decoder initial carry)``; position ``s``
          of the memory is the ``s``-th token read (so reversed when ``reverse_source``).
        """
        mask = source != PAD
        lengths = jnp.sum(mask, axis=-1)
        if self.reverse_source:
            source = reverse_sequences(source, lengths)
        memory, carry = self.encoder(self.source_embed(source), seq_lengths=lengths,
                                     return_carry=True)
        return memory, mask, self._bridge(carry)

    def encode_embedded(self, source: jax.Array):
        """``(embedded read order [B, S, E], lengths [B])``: the encoder's inputs (for probes)."""
        mask = source != PAD
        lengths = jnp.sum(mask, axis=-1)
        if self.reverse_source:
            source = reverse_sequences(source, lengths)
        return self.source_embed(source), lengths

    def _bridge(self, carry):
        if not self.bidirectional:
            return carry
        fwd, bwd = carry
        layers = [(fwd, bwd)] if self.num_layers == 1 else list(zip(fwd, bwd, strict=True))
        out = []
        for (cf, hf), (cb, hb) in layers:
            out.append((self.bridge_c(jnp.concatenate([cf, cb], -1)),
                        jnp.tanh(self.bridge_h(jnp.concatenate([hf, hb], -1)))))
        return out[0] if self.num_layers == 1 else tuple(out)

    def decode(self, target_in, carry, memory, memory_mask):
        """Runs the decoder over ``target_in`` (``T`` steps; ``T = 1`` when generating).

        Args:
          target_in: ``int[B, T]`` previous tokens (BOS first).
          carry: decoder carry (from ``encode`` or the previous call).
          memory: encoder outputs ``[B, S, F]``.
          memory_mask: ``bool[B, S]``, False at padding.

        Returns:
          ``(logits [B, T, V], carry, attention weights [B, T, S] or None)``.
        """
        h, carry = self.decoder(self.target_embed(target_in), initial_carry=carry,
                                return_carry=True)
        if self.attention == "none":
            hidden, weights = jnp.tanh(self.combine(h)), None
        else:
            weights = self._attend(h, memory, memory_mask)
            context = jnp.einsum("bts,bsf->btf", weights, memory)
            hidden = jnp.tanh(self.combine(jnp.concatenate([context, h], axis=-1)))
        return self.readout(hidden), carry, weights

    def _attend(self, h, memory, memory_mask):
        if self.attention == "additive":
            keys = self.attn_key(memory)[:, None]  # [B, 1, S, A]
            query = self.attn_query(h)[:, :, None]  # [B, T, 1, A]
            scores = self.attn_v(jnp.tanh(query + keys))[..., 0]
        else:
            scores = jnp.einsum("btf,bsf->bts", h, self.attn_key(memory))
        scores = jnp.where(memory_mask[:, None, :], scores, -1e9)
        return jax.nn.softmax(scores, axis=-1)

    def __call__(self, inputs: dict, *, train: bool = False) -> jax.Array:
        """Teacher-forced logits ``[B, T, target_vocab]`` for ``{'source', 'target_in'}``."""
        del train  # no dropout or batch norm
        memory, mask, carry = self.encode(inputs["source"])
        logits, _, _ = self.decode(inputs["target_in"], carry, memory, mask)
        return logits


def _token_cross_entropy(logits, targets):
    mask = (targets != PAD).astype(jnp.float32)
    count = jnp.maximum(jnp.sum(mask, axis=-1), 1.0)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
    hit = (jnp.argmax(logits, -1) == targets).astype(jnp.float32)
    return {
        "loss": jnp.sum(ce * mask, -1) / count,
        "token_accuracy": jnp.sum(hit * mask, -1) / count,
        "sequence_accuracy": jnp.all((hit > 0) | (mask == 0), -1).astype(jnp.float32),
    }


# Per sentence: token-mean cross-entropy over non-padding targets, teacher-forced token accuracy
# and whole-sentence accuracy.
TOKEN_CROSS_ENTROPY = Objective(_token_cross_entropy)


def encoder_cell(params: dict):
    """One step of the (one-layer, unidirectional) encoder LSTM from trained ``params``.

    ``cell((c, h), (x_t, m_t)) -> (c, h)`` with the fast layer's gate order (f, i, o, c~) and its
    masking (state frozen where ``m_t = 0``), for ``dl_jax.gradients.state_grad_norms``.
    """
    layer = params["encoder"]["layer_0"]
    w_in, w_rec, bias = layer["input_kernel"], layer["recurrent_kernel"], layer["bias"]
    features = w_rec.shape[0]

    def cell(carry, inputs):
        x, m = inputs
        c_prev, h_prev = carry
        z = x @ w_in + bias + h_prev @ w_rec
        f, i, o = jnp.split(jax.nn.sigmoid(z[:, : 3 * features]), 3, axis=-1)
        c = f * c_prev + i * jnp.tanh(z[:, 3 * features:])
        h = o * jnp.tanh(c)
        return m * c + (1 - m) * c_prev, m * h + (1 - m) * h_prev

    return cell


def encoder_state_grad_norms(model: Seq2Seq, params: dict, batch: dict) -> jax.Array:
    """``||dloss/d(c_t, h_t)||`` of the encoder over read positions ``t``, one reverse pass.

    The encoder is re-run as ``encoder_cell`` under ``dl_jax.gradients.state_grad_norms`` (a zero
    probe added to its state after every step), and the loss is the teacher-forced decoder's
    summed token cross-entropy on top of those states: the gradient includes every path from
    ``(c_t, h_t)`` to the loss — through later encoder steps, the final state and, with
    attention, the memory entry ``h_t`` itself.

    Args:
      model: a one-layer unidirectional ``Seq2Seq``.
      params: its trained parameters.
      batch: ``{'source', 'target_in', 'target_out'}`` int arrays.

    Returns:
      ``(S,)`` norms over the batch's states at each read position (reversed sources are
      read backwards: position ``t`` is word ``L - 1 - t``).
    """
    if model.bidirectional or model.num_layers != 1:
        raise ValueError("encoder gradient norms need a one-layer unidirectional encoder")
    return _encoder_grad_norms(model, params, batch)


@functools.partial(jax.jit, static_argnums=(0,))
def _encoder_grad_norms(model, params, batch):
    from dl_jax import gradients
    from dl_jax.models.recurrent import time_mask

    variables = {"params": params}
    source = jnp.asarray(batch["source"])
    embedded, lengths = model.apply(variables, source, method=model.encode_embedded)
    mask = time_mask(lengths, source.shape[1])  # (S, B, 1)
    zeros = jnp.zeros((source.shape[0], model.features), embedded.dtype)

    def loss(carries):
        c, h = carries
        memory = jnp.swapaxes(h * mask, 0, 1)
        logits, _, _ = model.apply(variables, jnp.asarray(batch["target_in"]), (c[-1], h[-1]),
                                   memory, source != PAD, method=model.decode)
        return jnp.sum(_token_cross_entropy(logits, jnp.asarray(batch["target_out"]))["loss"])

    return gradients.state_grad_norms(encoder_cell(params), (zeros, zeros),
                                      (jnp.swapaxes(embedded, 0, 1), mask), loss)

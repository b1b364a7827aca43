"""Decoding a trained ``Seq2Seq``: greedy and beam search, jitted and batched; BLEU scores.

Both decoders start from BOS, feed back their own tokens, never emit PAD or BOS, and stop a
sentence at EOS (later positions are PAD); the loop ends when every sentence has ended or after
``max_len`` tokens (``lax.while_loop``, static shapes).

Beam search keeps ``beam_size`` hypotheses per sentence ranked by total log-probability; an
ended hypothesis keeps its score and stays in the beam (it competes with the open ones). The
final pick divides by the GNMT length penalty ``((5 + |y|) / 6) ** alpha`` (Wu et al., 2016;
``alpha = 0``: raw log-probability). With ``beam_size = 1`` the search is exactly greedy decoding.

``bleu_scores`` uses sacrebleu (imported when called).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

PAD, BOS, EOS = 0, 1, 2


def _forbid_specials(logits):
    vocab = logits.shape[-1]
    banned = (jnp.arange(vocab) == PAD) | (jnp.arange(vocab) == BOS)
    return jnp.where(banned, -jnp.inf, logits)


@functools.lru_cache(maxsize=16)
def make_greedy(model, max_len: int):
    """``fn(variables, source int[B, S]) -> (tokens int[B, max_len], weights [B, L, S] | None)``.

    Cached per (model, max_len): equal models share one compiled decoder.
    """

    @jax.jit
    def greedy(variables, source):
        memory, mask, carry = model.apply(variables, source, method=model.encode)
        batch = source.shape[0]
        tokens = jnp.zeros((batch, max_len), jnp.int32)
        has_attention = model.attention != "none"
        weights = jnp.zeros((batch, max_len, source.shape[1]) if has_attention else (0,))

        def cond(state):
            step, _, _, finished, _, _ = state
            return (step < max_len) & ~jnp.all(finished)

        def body(state):
            step, prev, carry, finished, tokens, weights = state
            logits, carry, attn = model.apply(variables, prev[:, None], carry, memory, mask,
                                              method=model.decode)
            token = jnp.argmax(_forbid_specials(logits[:, 0]), -1).astype(jnp.int32)
            token = jnp.where(finished, PAD, token)
            tokens = tokens.at[:, step].set(token)
            if has_attention:
                weights = weights.at[:, step].set(attn[:, 0])
            return step + 1, token, carry, finished | (token == EOS), tokens, weights

        state = (0, jnp.full((batch,), BOS, jnp.int32), carry, jnp.zeros(batch, bool), tokens,
                 weights)
        _, _, _, _, tokens, weights = jax.lax.while_loop(cond, body, state)
        return tokens, (weights if has_attention else None)

    return greedy


@functools.lru_cache(maxsize=16)
def make_beam_search(model, max_len: int, beam_size: int, alpha: float = 0.6):
    """``fn(variables, source int[B, S]) -> (tokens int[B, max_len], score float[B])``.

    Cached per arguments: equal models share one compiled decoder.

    ``score`` is the chosen hypothesis's log-probability divided by its length penalty.
    """
    k = beam_size

    def gather(tree, beam_idx, batch):
        def take(x):
            x = x.reshape((batch, k) + x.shape[1:])
            idx = beam_idx.reshape(beam_idx.shape + (1,) * (x.ndim - 2))
            return jnp.take_along_axis(x, idx, axis=1).reshape((batch * k,) + x.shape[2:])

        return jax.tree.map(take, tree)

    @jax.jit
    def beam_search(variables, source):
        batch = source.shape[0]
        memory, mask, carry = model.apply(variables, source, method=model.encode)
        memory, mask, carry = jax.tree.map(lambda x: jnp.repeat(x, k, axis=0),
                                           (memory, mask, carry))
        scores = jnp.tile(jnp.where(jnp.arange(k) == 0, 0.0, -jnp.inf), (batch, 1))
        state = (0, jnp.full((batch * k,), BOS, jnp.int32), carry, scores,
                 jnp.zeros((batch, k), bool), jnp.zeros((batch, k), jnp.int32),
                 jnp.zeros((batch, k, max_len), jnp.int32))

        def cond(state):
            return (state[0] < max_len) & ~jnp.all(state[4])

        def body(state):
            step, prev, carry, scores, finished, lengths, tokens = state
            logits, carry, _ = model.apply(variables, prev[:, None], carry, memory, mask,
                                           method=model.decode)
            logp = jax.nn.log_softmax(_forbid_specials(logits[:, 0].astype(jnp.float32)))
            vocab = logp.shape[-1]
            logp = logp.reshape(batch, k, vocab)
            ended = jnp.where(jnp.arange(vocab) == PAD, 0.0, -jnp.inf)
            logp = jnp.where(finished[..., None], ended, logp)
            top, index = jax.lax.top_k((scores[..., None] + logp).reshape(batch, k * vocab), k)
            beam_idx, token = index // vocab, (index % vocab).astype(jnp.int32)
            carry = gather(carry, beam_idx, batch)
            was_finished = jnp.take_along_axis(finished, beam_idx, axis=1)
            tokens = jnp.take_along_axis(tokens, beam_idx[..., None], axis=1)
            tokens = tokens.at[:, :, step].set(token)
            lengths = jnp.take_along_axis(lengths, beam_idx, axis=1) + (~was_finished)
            finished = was_finished | (token == EOS)
            return step + 1, token.reshape(-1), carry, top, finished, lengths, tokens

        _, _, _, scores, _, lengths, tokens = jax.lax.while_loop(cond, body, state)
        normalized = scores / (((5.0 + lengths) / 6.0) ** alpha)
        best = jnp.argmax(normalized, axis=1)
        return (jnp.take_along_axis(tokens, best[:, None, None], axis=1)[:, 0],
                jnp.take_along_axis(normalized, best[:, None], axis=1)[:, 0])

    return beam_search


def decode_all(decode_fn, variables, sources: np.ndarray, batch_size: int):
    """Runs ``decode_fn`` over ``sources`` in fixed-size batches (the last one padded).

    Returns:
      ``(tokens [N, L], extras [N, ...] or None)`` as numpy arrays.
    """
    n = len(sources)
    batch_size = min(batch_size, n)
    outputs, extras = [], []
    for start in range(0, n, batch_size):
        idx = np.minimum(np.arange(start, start + batch_size), n - 1)
        tokens, extra = jax.device_get(decode_fn(variables, sources[idx]))
        keep = min(batch_size, n - start)
        outputs.append(tokens[:keep])
        extras.append(None if extra is None else extra[:keep])
    tokens = np.concatenate(outputs)
    return tokens, (None if extras[0] is None else np.concatenate(extras))


@functools.lru_cache(maxsize=1)
def _sacrebleu():
    import sacrebleu

    return sacrebleu


def corpus_bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU (sacrebleu, default 13a tokenisation), 0..100."""
    if not hypotheses:
        return float("nan")
    return float(_sacrebleu().corpus_bleu(hypotheses, [references]).score)


def bleu_scores(hypotheses: list[str], references: list[str], source_lengths,
                bucket_edges=(10, 20, 30, 40, 50, 60, 80)) -> dict:
    """BLEU, exact match and BLEU by source-length bucket.

    Args:
      hypotheses: detokenized model outputs.
      references: detokenized references.
      source_lengths: source length (tokens) of each sentence.
      bucket_edges: upper bounds (exclusive) of the buckets; a last bucket takes the rest.

    Returns:
      ``{'bleu', 'exact_match', 'buckets': [{'source_len', 'count', 'bleu', 'exact_match'}]}``.
    """
    lengths = np.asarray(source_lengths)
    exact = np.asarray([h == r for h, r in zip(hypotheses, references, strict=True)], float)
    buckets, low = [], 0
    for high in (*bucket_edges, None):
        sel = np.flatnonzero((lengths >= low) & ((lengths < high) if high else True))
        if len(sel):
            buckets.append({
                "source_len": f"{low}-{high - 1}" if high else f"{low}+",
                "low": low,
                "count": len(sel),
                "bleu": corpus_bleu([hypotheses[i] for i in sel], [references[i] for i in sel]),
                "exact_match": float(exact[sel].mean()),
            })
        low = high
    return {"bleu": corpus_bleu(hypotheses, references), "exact_match": float(exact.mean()),
            "buckets": buckets}

"""Translation training step on CPU: dl_jax ``Seq2Seq`` (attention) vs a PyTorch ``nn.LSTM`` peer.

The model of ``experiments/nmt`` (embeddings 64, one-layer LSTM encoder and decoder of 128
units, multiplicative attention, ``tanh(W_c [c_t; h_t])`` then the read-out), batch 64, source
96 and target 84 tokens (close to the corpus's padded 99 / 92), vocabularies of 40, Adam, token
cross-entropy with padding masked. The PyTorch peer has the same layers and parameter count
(``nn.Embedding``, ``nn.LSTM``, ``bmm`` attention, ``nn.Linear``); torch is optional (the row
is skipped with a note when it is missing; install ``pip install torch==2.13.0``, CPU wheel).
Rounds interleave the two so that load from other processes hits both alike; the table gives
training tokens/s (target tokens, padding included) of the best and the median round.

Run: ``python -m benchmarks.nmt_cpu [--rounds 10] [--steps 2]``. On a GPU machine
``--device=cuda`` puts the PyTorch peer on the GPU (dl_jax uses JAX's default device): the NMT row
of ``python -m benchmarks.run --gpu`` (``benchmarks/gpu.sh``); ``--smoke`` is a tiny batch.
"""

import argparse
import statistics

import jax
import numpy as np
import optax

from benchmarks.common import interleaved_seconds, jax_step_runner
from dl_jax.models import get_model, seq2seq

BATCH, SOURCE, TARGET, VOCAB, EMBED, HIDDEN = 64, 96, 84, 40, 64, 128


def make_batch(seed: int = 0, batch: int = BATCH, length: tuple[int, int] = (SOURCE, TARGET)):
    """Random token batch with sentence lengths between a quarter and all of the padded length."""
    rng = np.random.default_rng(seed)
    source_len, target_len = length
    source = rng.integers(4, VOCAB, (batch, source_len)).astype(np.int32)
    target = rng.integers(4, VOCAB, (batch, target_len + 1)).astype(np.int32)
    for row, (ls, lt) in enumerate(zip(rng.integers(source_len // 4, source_len + 1, batch),
                                       rng.integers(target_len // 4, target_len + 1, batch),
                                       strict=True)):
        source[row, ls:] = 0
        target[row, lt:] = 0
    target[:, 0] = 1
    return source, target[:, :-1], target[:, 1:]


def jax_runner(source, target_in, target_out):
    """``run(n)``: ``n`` Adam steps of the dl_jax model on the batch."""
    model = get_model("seq2seq", None, source_vocab=VOCAB, target_vocab=VOCAB, embed_dim=EMBED,
                      features=HIDDEN, attention="multiplicative")
    inputs = {"source": source, "target_in": target_in}
    params = jax.jit(model.init)(jax.random.key(0), inputs)["params"]
    tx = optax.adam(1e-3)

    def step(state, inputs, targets):
        params, opt_state = state

        def loss_fn(p):
            logits = model.apply({"params": p}, inputs)
            return seq2seq.TOKEN_CROSS_ENTROPY.per_example(logits, targets)["loss"].mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    count = sum(x.size for x in jax.tree.leaves(params))
    return jax_step_runner(step, (params, tx.init(params)), inputs, target_out), count


def torch_runner(source, target_in, target_out, device: str = "cpu"):
    """``(run, param count, version)`` of the PyTorch peer, or None without torch (or CUDA)."""
    try:
        import torch
    except ImportError:
        return None
    if device == "cuda" and not torch.cuda.is_available():
        return None
    from torch import nn

    torch.manual_seed(0)

    class Peer(nn.Module):
        def __init__(self):
            super().__init__()
            self.src_embed, self.tgt_embed = nn.Embedding(VOCAB, EMBED), nn.Embedding(VOCAB, EMBED)
            self.encoder = nn.LSTM(EMBED, HIDDEN, batch_first=True)
            self.decoder = nn.LSTM(EMBED, HIDDEN, batch_first=True)
            self.key = nn.Linear(HIDDEN, HIDDEN, bias=False)
            self.combine, self.readout = nn.Linear(2 * HIDDEN, HIDDEN), nn.Linear(HIDDEN, VOCAB)

        def forward(self, src, tgt_in):
            mask = src != 0
            packed = nn.utils.rnn.pack_padded_sequence(
                self.src_embed(src), mask.sum(1).cpu(), batch_first=True, enforce_sorted=False)
            memory, carry = self.encoder(packed)
            memory, _ = nn.utils.rnn.pad_packed_sequence(memory, batch_first=True,
                                                         total_length=src.shape[1])
            h, _ = self.decoder(self.tgt_embed(tgt_in), carry)
            scores = torch.bmm(h, self.key(memory).transpose(1, 2))
            weights = torch.softmax(scores.masked_fill(~mask[:, None], -1e9), -1)
            hidden = torch.tanh(self.combine(torch.cat([torch.bmm(weights, memory), h], -1)))
            return self.readout(hidden)

    model = Peer().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    src, tin, tout = (torch.from_numpy(a).long().to(device)
                      for a in (source, target_in, target_out))

    def run(n: int) -> float:
        loss = None
        for _ in range(n):
            optimizer.zero_grad(set_to_none=True)
            logits = model(src, tin)
            ce = nn.functional.cross_entropy(logits.transpose(1, 2), tout, reduction="none")
            mask = (tout != 0).float()
            loss = ((ce * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()
            loss.backward()
            optimizer.step()
        return float(loss.detach())

    count = sum(p.numel() for p in model.parameters())
    return run, count, torch.__version__


def main(argv=None) -> dict:
    """Prints and returns tokens/s (best, median) per variant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where the PyTorch peer runs")
    parser.add_argument("--smoke", action="store_true", help="batch 4, 12/10 tokens, one round")
    args = parser.parse_args(argv)
    sizes = dict(batch=4, length=(12, 10)) if args.smoke else {}
    if args.smoke:
        args.rounds, args.steps = 1, 1
    batch = make_batch(**sizes)
    run, count = jax_runner(*batch)
    variants, counts = {"dl_jax Seq2Seq": run}, {"dl_jax Seq2Seq": count}
    peer = torch_runner(*batch, device=args.device)
    if peer is None:
        print(f"torch (with {args.device}) not available: PyTorch row skipped")
    else:
        variants[f"torch {peer[2]} nn.LSTM"], counts[f"torch {peer[2]} nn.LSTM"] = peer[0], peer[1]
    for run in variants.values():
        run(1)  # compile / warm up
    seconds = interleaved_seconds(variants, args.rounds, args.steps)
    tokens = batch[2].size  # target tokens, padding included
    results = {}
    print(f"{'variant':32s} {'params':>9s} {'best tok/s':>11s} {'median tok/s':>13s}")
    for name, times in seconds.items():
        best, median = tokens / min(times), tokens / statistics.median(times)
        results[name] = {"best_tokens_per_s": best, "median_tokens_per_s": median}
        print(f"{name:32s} {counts[name]:9,d} {best:11.0f} {median:13.0f}")
    return results


if __name__ == "__main__":
    main()

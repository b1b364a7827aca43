"""Neural machine translation (chapter 4): train, decode the held-out split, score, plot.

One run trains one ``seq2seq`` model with the shared trainer (token cross-entropy, padding
masked), then decodes the held-out sentences with beam search and greedy decoding and writes to
``summary.json``: corpus BLEU (sacrebleu) and exact-match rate, BLEU by source-length bucket,
the encoder's gradient norms ``||dloss/dh_t^enc||`` over source positions, and a few examples.
Figures: ``bleu_by_length.png``, ``encoder_grad_norms.png``, ``attention_maps.png``.
The ``compare`` variant runs every listed variant (and seed) in ``WORKDIR/<variant>_s<seed>``
and writes ``compare.json``, ``compare.md`` and the same figures with the variants side by side.
"""

from __future__ import annotations

import copy
import os

import jax
import ml_collections
import numpy as np
from matplotlib.figure import Figure

from dl_jax import decoding
from dl_jax.data import translation
from dl_jax.errors import UserError
from dl_jax.models import get_model, seq2seq
from dl_jax.training import writers
from dl_jax.training.trainer import train_and_evaluate
from experiments.common import plots

TRAIN_HINT = "python -m experiments.nmt --workdir={workdir}"


def run(config, workdir: str) -> dict:
    """Trains and scores one model, or with ``config.compare`` every variant; the summary."""
    if config.compare:
        return run_compare(config, workdir)
    return run_single(config, workdir)


# ---------------------------------------------------------------------------------------------
# Data, model.
# ---------------------------------------------------------------------------------------------


def _check(config) -> None:
    if config.model != "seq2seq":
        raise UserError(f"unknown model {config.model!r} for the nmt study: choose seq2seq")
    if config.attention not in seq2seq.ATTENTIONS:
        raise UserError(f"unknown attention {config.attention!r}: choose one of "
                        f"{', '.join(seq2seq.ATTENTIONS)}")
    clash = {"attention", "reverse_source", "source_vocab", "target_vocab"} & set(
        config.model_kwargs)
    if clash:
        raise UserError(f"set {sorted(clash)[0]} as config.{sorted(clash)[0]}, not in "
                        f"model_kwargs (vocabulary sizes come from the tokenizer)")


def dataset_name(config) -> str:
    """The TFDS name read: the embedded corpus gets the target language as its config."""
    if config.dataset == translation.EMBEDDED_NAME:
        return f"{translation.EMBEDDED_NAME}/{config.target_lang}"
    return config.dataset


def load_data(config, workdir: str):
    """``(dataset, test_pairs, source_tok, target_tok)``; tokenizers saved in WORKDIR/tokenizer.

    A tokenizer already in the workdir (a resumed run) is loaded, not rebuilt.
    """
    name = dataset_name(config)
    train_pairs, test_pairs, _, _ = translation.load_pairs(
        name, config.data_dir or None, source_key=config.source_key or None,
        target_key=config.target_key or None, max_examples=config.max_examples)
    tok_dir = os.path.join(workdir, "tokenizer")
    if os.path.isdir(tok_dir):
        source_tok, target_tok = translation.load_tokenizers(tok_dir)
    elif name.startswith(translation.EMBEDDED_NAME):
        source_tok = translation.WordVocab.build(s for s, _ in train_pairs)
        target_tok = translation.WordVocab.build(t for _, t in train_pairs)
    else:
        source_tok = translation.SubwordVocab.train([s for s, _ in train_pairs], config.vocab_size)
        target_tok = translation.SubwordVocab.train([t for _, t in train_pairs], config.vocab_size)
    dataset = translation.make_dataset(name, train_pairs, test_pairs, source_tok, target_tok,
                                       config.max_source_len or None,
                                       config.max_target_len or None)
    return dataset, test_pairs, source_tok, target_tok


def build_model(config, source_vocab: int, target_vocab: int):
    """The registry's ``config.model`` with the vocabulary sizes and the top-level switches."""
    return get_model(config.model, None, source_vocab=source_vocab, target_vocab=target_vocab,
                     attention=config.attention, reverse_source=bool(config.reverse_source),
                     **config.model_kwargs.to_dict())


# ---------------------------------------------------------------------------------------------
# One run.
# ---------------------------------------------------------------------------------------------


def run_single(config, workdir: str) -> dict:
    """Trains one model (resumable) and scores it on the held-out sentences."""
    _check(config)
    dataset, test_pairs, source_tok, target_tok = load_data(config, workdir)
    model = build_model(config, source_tok.size, target_tok.size)
    tok_dir = os.path.join(workdir, "tokenizer")
    if not os.path.isdir(tok_dir):
        os.makedirs(workdir, exist_ok=True)
        translation.save_tokenizers(tok_dir, source_tok, target_tok)
        writers.write_json(os.path.join(tok_dir, "lengths.json"), {
            "source_len": dataset.train.inputs["source"].shape[1],
            "target_len": dataset.train.labels.shape[1]})
    result = train_and_evaluate(config, workdir, dataset=dataset, model=model,
                                objective=seq2seq.TOKEN_CROSS_ENTROPY)
    if not result.finished:
        return {}
    if "bleu" in result.summary:  # a finished run re-run: nothing to recompute
        return result.summary
    scores = score(config, model, result.state.params, dataset, test_pairs, target_tok, workdir)
    summary = {**result.summary, **scores}
    writers.write_json(os.path.join(workdir, "summary.json"), summary)
    return summary


def score(config, model, params, dataset, test_pairs, target_tok, workdir: str) -> dict:
    """Beam and greedy BLEU, buckets, gradient norms and examples; writes the figures."""
    variables = {"params": params}
    sources = dataset.test.inputs["source"]
    max_len = dataset.test.labels.shape[1]
    beam = decoding.make_beam_search(model, max_len, config.beam_size, config.length_penalty)
    beam_tokens, _ = decoding.decode_all(beam, variables, sources, config.decode_batch_size)
    greedy = decoding.make_greedy(model, max_len)
    greedy_tokens, weights = decoding.decode_all(greedy, variables, sources,
                                                 config.decode_batch_size)
    references = [t for _, t in test_pairs]
    lengths = (sources != translation.PAD).sum(1)
    beam_scores = decoding.bleu_scores([target_tok.decode(t) for t in beam_tokens], references,
                                       lengths)
    greedy_scores = decoding.bleu_scores([target_tok.decode(t) for t in greedy_tokens],
                                         references, lengths)
    label = variant_label(config)
    out = {
        "bleu": beam_scores["bleu"], "exact_match": beam_scores["exact_match"],
        "bleu_by_source_length": beam_scores["buckets"],
        "greedy_bleu": greedy_scores["bleu"], "greedy_exact_match": greedy_scores["exact_match"],
        "variant": label, "num_test_sentences": len(references),
        "examples": [{"source": s, "reference": r, "translation": target_tok.decode(t)}
                     for (s, _), r, t in list(zip(test_pairs, references, beam_tokens,
                                                      strict=True))[:5]],
    }
    grad = encoder_grad_norms(config, model, params, dataset)
    if grad is not None:
        out["encoder_grad_norms"] = grad
        plot_grad_norms(os.path.join(workdir, "encoder_grad_norms.png"),
                        {label: grad["norms"]})
    plot_bleu_by_length(os.path.join(workdir, "bleu_by_length.png"), {label: out})
    if weights is not None and config.num_attention_maps:
        plot_attention_maps(os.path.join(workdir, "attention_maps.png"), config, test_pairs,
                            sources, greedy_tokens, weights, target_tok, dataset)
    return out


def variant_label(config) -> str:
    """``attention`` plus ``+reverse`` when the source is reversed."""
    return config.attention + ("+reverse" if config.reverse_source else "")


def encoder_grad_norms(config, model, params, dataset) -> dict | None:
    """``||dloss/d(c_t, h_t)||`` per source word for held-out sentences of one length.

    Uses the most common source length among the longest quarter of the held-out sentences
    (``config.grad_sentences`` of them); positions are in source word order (a reversed
    source's gradient is flipped back). None for deep or bidirectional encoders.
    """
    if model.bidirectional or model.num_layers != 1 or not config.grad_sentences:
        return None
    arrays = dataset.test.inputs
    lengths = (arrays["source"] != translation.PAD).sum(1)
    long = lengths[lengths >= np.quantile(lengths, 0.75)]
    values, counts = np.unique(long, return_counts=True)
    length = int(values[np.argmax(counts)])
    idx = np.flatnonzero(lengths == length)[: config.grad_sentences]
    batch = {"source": arrays["source"][idx, :length], "target_in": arrays["target_in"][idx],
             "target_out": dataset.test.labels[idx]}
    norms = np.asarray(jax.device_get(seq2seq.encoder_state_grad_norms(model, params, batch)))
    if config.reverse_source:
        norms = norms[::-1]
    return {"source_length": length, "num_sentences": len(idx),
            "norms": [float(x) for x in norms]}


# ---------------------------------------------------------------------------------------------
# Figures.
# ---------------------------------------------------------------------------------------------


def plot_bleu_by_length(path: str, results: dict) -> None:
    """BLEU against source length, one line per variant (Bahdanau et al. 2015, Fig. 2)."""
    fig = Figure(figsize=(5.5, 3.5))
    ax = fig.subplots()
    for label, result in results.items():
        buckets = result["bleu_by_source_length"]
        ax.plot([b["low"] for b in buckets], [b["bleu"] for b in buckets], "o-", label=label)
    ax.set_xlabel("source length (tokens, bucket start)")
    ax.set_ylabel("BLEU (held-out)")
    ax.grid(alpha=0.3)
    ax.legend()
    plots.save_figure(fig, path)


def plot_grad_norms(path: str, curves: dict) -> None:
    """``||dloss/dh_t^enc||`` against source position, one line per variant (log scale)."""
    fig = Figure(figsize=(5.5, 3.5))
    ax = fig.subplots()
    for label, norms in curves.items():
        ax.semilogy(np.arange(1, len(norms) + 1), norms, label=label)
    ax.set_xlabel("source position t (word order)")
    ax.set_ylabel(r"$\|\partial L / \partial (c_t, h_t)^{enc}\|$")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    plots.save_figure(fig, path)


def plot_attention_maps(path, config, test_pairs, sources, tokens, weights, target_tok,
                        dataset) -> None:
    """Attention weights of the first held-out sentences (rows: output words, columns: source)."""
    count = min(config.num_attention_maps, len(test_pairs))
    fig = Figure(figsize=(6 * count, 6))
    axes = fig.subplots(1, count, squeeze=False)[0]
    for i, ax in enumerate(axes):
        n_src = int((sources[i] != translation.PAD).sum())
        out = target_tok.tokens(tokens[i])
        n_out = min(len(out) + 1, weights.shape[1])  # + EOS
        image = weights[i, :n_out, :n_src]
        if config.reverse_source:  # memory is in read order: flip back to word order
            image = image[:, ::-1]
        ax.imshow(image, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        src_words = translation.tokenize(test_pairs[i][0])[:n_src]
        if len(src_words) == n_src and n_src <= 60:
            ax.set_xticks(range(n_src), src_words, rotation=90, fontsize=6)
        if n_out <= 60:
            ax.set_yticks(range(n_out), [*out, "</s>"][:n_out], fontsize=6)
    fig.suptitle(f"attention ({variant_label(config)}), held-out sentences", fontsize=9)
    plots.save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# compare: every variant (and seed), one table.
# ---------------------------------------------------------------------------------------------


def variant_config(config, variant: str, seed: int):
    """A single-run config for ``variant`` (``attention[+reverse]``) and ``seed``."""
    attention, _, extra = variant.partition("+")
    if attention not in seq2seq.ATTENTIONS or extra not in ("", "reverse"):
        raise UserError(f"unknown compare variant {variant!r}: use <attention>[+reverse] with "
                        f"attention one of {', '.join(seq2seq.ATTENTIONS)}")
    sub = copy.deepcopy(config)
    with sub.unlocked():
        # The single-run defaults, so a finished single run of this variant and seed is reused.
        sub.compare, sub.compare_seeds = (), (0,)
        sub.attention, sub.reverse_source, sub.seed = attention, extra == "reverse", seed
    return sub


def run_compare(config, workdir: str) -> dict:
    """Runs every variant for every seed; the table's summary ({} if a run stopped early)."""
    configs = {(v, s): variant_config(config, v, s) for v in config.compare
               for s in config.compare_seeds}  # validates every variant first
    os.makedirs(workdir, exist_ok=True)
    writers.claim_workdir(workdir, config)
    results = {}
    for (variant, seed), sub in configs.items():
        summary = run_single(sub, os.path.join(workdir, f"{variant}_s{seed}"))
        if not summary:
            return {}
        results[(variant, seed)] = summary
    table = compare_table(results, config)
    writers.write_json(os.path.join(workdir, "compare.json"), table)
    with open(os.path.join(workdir, "compare.md"), "w") as f:
        f.write(markdown_table(table))
    first = config.compare_seeds[0]
    plot_bleu_by_length(os.path.join(workdir, "bleu_by_length.png"),
                        {v: results[(v, first)] for v in config.compare})
    plot_grad_norms(os.path.join(workdir, "encoder_grad_norms.png"),
                    {v: results[(v, first)]["encoder_grad_norms"]["norms"]
                     for v in config.compare if "encoder_grad_norms" in results[(v, first)]})
    writers.write_json(os.path.join(workdir, "summary.json"), table)
    return table


def compare_table(results: dict, config) -> dict:
    """Mean and spread over seeds of BLEU, exact match and the longest bucket's BLEU."""
    rows = {}
    for variant in config.compare:
        runs = [results[(variant, s)] for s in config.compare_seeds]
        longest = [r["bleu_by_source_length"][-1] for r in runs]
        rows[variant] = {
            "bleu": _stats([r["bleu"] for r in runs]),
            "exact_match": _stats([r["exact_match"] for r in runs]),
            "longest_bucket": longest[0]["source_len"],
            "longest_bucket_bleu": _stats([b["bleu"] for b in longest]),
            "wall_time_s": _stats([r["wall_time_s"] for r in runs]),
            "num_params": runs[0]["num_params"],
        }
    table = {"variants": rows, "seeds": list(config.compare_seeds)}
    attention = [v for v in config.compare if not v.startswith("none")]
    if "none" in config.compare and attention:
        gaps = [results[(attention[0], s)]["bleu_by_source_length"][-1]["bleu"]
                - results[("none", s)]["bleu_by_source_length"][-1]["bleu"]
                for s in config.compare_seeds]
        table[f"longest_bucket_gap_{attention[0]}_minus_none"] = _stats(gaps)
    return table


def _stats(values) -> dict:
    values = np.asarray(values, float)
    return {"mean": float(values.mean()), "std": float(values.std()), "values": values.tolist()}


def markdown_table(table: dict) -> str:
    """The compare table as markdown (mean ± std over seeds)."""
    lines = ["| variant | params | BLEU | exact match | longest bucket | BLEU there | wall s |",
             "|---|---:|---:|---:|---|---:|---:|"]
    for variant, row in table["variants"].items():
        lines.append(
            f"| {variant} | {row['num_params']:,} | {_pm(row['bleu'])} | "
            f"{_pm(row['exact_match'], 100)} % | {row['longest_bucket']} | "
            f"{_pm(row['longest_bucket_bleu'])} | {row['wall_time_s']['mean']:.0f} |")
    return "\n".join(lines) + "\n"


def _pm(stats: dict, scale: float = 1.0) -> str:
    return f"{stats['mean'] * scale:.2f} ± {stats['std'] * scale:.2f}"


# ---------------------------------------------------------------------------------------------
# Loading a trained run (experiments.translate).
# ---------------------------------------------------------------------------------------------


class Translator:
    """A trained run's tokenizers, newest checkpoint (restored on first use) and beam search."""

    def __init__(self, workdir: str):
        config_path = os.path.join(workdir, "config.json")
        tok_dir = os.path.join(workdir, "tokenizer")
        self.checkpoint_dir = os.path.join(workdir, "checkpoints")
        self.hint = (f"no trained model in {workdir}: train first with "
                     f"{TRAIN_HINT.format(workdir=workdir)}")
        if not os.path.exists(config_path):
            raise UserError(self.hint)
        self.config = ml_collections.ConfigDict(writers.read_json(config_path))
        if self.config.get("compare"):
            raise UserError(f"{workdir} holds a compare run: pass one of its variant folders")
        if not (os.path.isdir(tok_dir) and os.path.isdir(self.checkpoint_dir)):
            raise UserError(self.hint)
        self.source_tok, self.target_tok = translation.load_tokenizers(tok_dir)
        self.max_len = int(writers.read_json(os.path.join(tok_dir, "lengths.json"))["target_len"])
        self.model = build_model(self.config, self.source_tok.size, self.target_tok.size)
        self._params = None

    @property
    def params(self):
        """The newest checkpoint's parameters (restored once)."""
        if self._params is None:
            from dl_jax.training import steps
            from dl_jax.training.checkpoints import Checkpointer
            from dl_jax.training.optimizers import make_optimizer

            example = {"source": np.ones((1, 1), np.int32),
                       "target_in": np.ones((1, 1), np.int32)}
            state = steps.create_train_state(self.model, make_optimizer(self.config), example,
                                             self.config.seed)
            checkpointer = Checkpointer(self.checkpoint_dir)
            try:
                if checkpointer.latest_step() is None:
                    raise UserError(self.hint)
                self._params = checkpointer.restore(state).params
            finally:
                checkpointer.close()
        return self._params

    def translate(self, sentence: str) -> str:
        """The beam-search translation; UserError naming any word outside the vocabulary."""
        unknown = self.source_tok.unknown_words(sentence)
        if unknown:
            raise UserError(f"unknown word {unknown[0]!r}: the model's source vocabulary has "
                            f"{self.source_tok.size} entries (numbers in words and connectives)")
        ids = self.source_tok.encode(sentence)
        if not ids:
            raise UserError("empty sentence: nothing to translate")
        beam = decoding.make_beam_search(self.model, self.max_len, self.config.beam_size,
                                         self.config.length_penalty)
        tokens, _ = beam({"params": self.params}, np.asarray([ids], np.int32))
        return self.target_tok.decode(np.asarray(tokens)[0])

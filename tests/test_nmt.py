"""Chapter 4 translation: the Seq2Seq model, decoding, the corpus, the nmt study and translate."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dl_jax import decoding
from dl_jax.data import translation
from dl_jax.errors import UserError
from dl_jax.models import get_model


@pytest.fixture(scope="module")
def short_pairs():
    """Short training/held-out pairs (<= 12 tokens a side), made directly by the generator."""

    def short(pairs):
        return [p for p in pairs if max(len(translation.tokenize(s)) for s in p) <= 12]

    train = short(translation.generate_pairs(120, "fr", held_out=False, seed=0))
    test = short(translation.generate_pairs(40, "fr", held_out=True, seed=1))
    return train, test


@pytest.fixture(scope="module")
def tiny_data(short_pairs):
    train, test = short_pairs
    source = translation.WordVocab.build(s for s, _ in train + test)
    target = translation.WordVocab.build(t for _, t in train + test)
    return translation.make_dataset("tiny", train, test, source, target), source, target


def _model(data, **kwargs):
    dataset, source, target = data
    return get_model("seq2seq", None, source_vocab=source.size, target_vocab=target.size,
                     embed_dim=8, features=16, attention_dim=8, **kwargs)


def test_corpus_holds_out_numbers_and_round_trips_text(short_pairs):
    train, test = short_pairs
    assert train and test
    for _, french in train + test:
        assert translation.detokenize(translation.tokenize(french)) == french
    # Held-out sentences use only held-out numbers (>= 100, about 10 %); training never does.
    rng = np.random.default_rng(0)
    assert not any(translation.is_held_out(translation._draw_number(rng, False))
                   for _ in range(2000))
    assert all(translation.is_held_out(translation._draw_number(rng, True)) for _ in range(200))
    share = np.mean([translation.is_held_out(n) for n in range(100, 5000)])
    assert 0.05 < share < 0.15
    again = translation.generate_pairs(5, "vi", held_out=True, seed=3)
    assert again == translation.generate_pairs(5, "vi", held_out=True, seed=3)
    with pytest.raises(UserError, match="choose one of fr, vi"):
        translation.generate_pairs(1, "de", held_out=False, seed=0)


@pytest.mark.parametrize("kwargs", [
    {"attention": "none"},
    {"attention": "additive", "reverse_source": True},
    {"attention": "multiplicative", "bidirectional": True, "num_layers": 2},
])
def test_padding_does_not_change_outputs(tiny_data, kwargs):
    model = _model(tiny_data, **kwargs)
    inputs = {k: v[:3] for k, v in tiny_data[0].train.inputs.items()}
    variables = jax.jit(model.init)(jax.random.key(0), inputs)
    apply = jax.jit(model.apply)
    logits = apply(variables, inputs)
    padded = {k: np.pad(v, ((0, 0), (0, 5))) for k, v in inputs.items()}
    logits_padded = apply(variables, padded)
    valid = inputs["target_in"] != translation.PAD
    np.testing.assert_allclose(np.asarray(logits_padded)[:, :valid.shape[1]][valid],
                               np.asarray(logits)[valid], rtol=2e-5, atol=2e-5)


def test_beam_one_equals_greedy_and_beams_end_at_eos(tiny_data):
    model = _model(tiny_data, attention="additive")
    dataset = tiny_data[0]
    source = dataset.test.inputs["source"][:6]
    variables = jax.jit(model.init)(jax.random.key(1),
                                    {k: v[:1] for k, v in dataset.train.inputs.items()})
    # Sharpen the untrained readout so that sentences end (EOS) at different steps.
    params = jax.tree.map(lambda x: x * 3.0, variables["params"])
    greedy, weights = decoding.make_greedy(model, 16)({"params": params}, source)
    beam, _ = decoding.make_beam_search(model, 16, 1, alpha=0.6)({"params": params}, source)
    np.testing.assert_array_equal(np.asarray(beam), np.asarray(greedy))
    assert weights.shape == (6, 16, source.shape[1])
    np.testing.assert_allclose(np.asarray(weights).sum(-1)[np.asarray(greedy) != 0], 1.0,
                               rtol=1e-5)
    wide, scores = decoding.make_beam_search(model, 16, 3)({"params": params}, source)
    for row in np.asarray(wide):  # after EOS only padding
        if decoding.EOS in row:
            assert not row[list(row).index(decoding.EOS) + 1:].any()
    assert np.all(np.isfinite(np.asarray(scores)))


def test_tiny_corpus_is_overfitted(tiny_data, tiny_config, tmp_path):
    from dl_jax.data import Dataset, Split
    from dl_jax.models import seq2seq
    from dl_jax.training.trainer import train_and_evaluate

    full, source, target = tiny_data
    small = Split({k: v[:8] for k, v in full.train.inputs.items()}, full.train.labels[:8])
    dataset = Dataset("tiny", small, small, target.size)
    config = tiny_config(model="seq2seq", batch_size=8, num_steps=150, learning_rate=2e-2,
                         log_every_steps=50, eval_every_steps=150, checkpoint_every_steps=150,
                         grad_clip_norm=1.0)
    model = _model(tiny_data, attention="multiplicative")
    result = train_and_evaluate(config, str(tmp_path), dataset=dataset, model=model,
                                objective=seq2seq.TOKEN_CROSS_ENTROPY)
    assert result.summary["test_sequence_accuracy"] == 1.0
    tokens, _ = decoding.make_greedy(model, full.train.labels.shape[1])(
        {"params": result.state.params}, small.inputs["source"])
    hyps = [target.decode(t) for t in np.asarray(tokens)]
    refs = [target.decode(t) for t in small.labels]
    assert hyps == refs
    assert decoding.bleu_scores(hyps, refs, [1] * 8)["bleu"] == pytest.approx(100.0)


@pytest.fixture(scope="module")
def tiny_corpus_dir(tmp_path_factory):
    """A TFDS data_dir whose embedded numbers corpus is generated small (300 / 40 pairs)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(translation, "NUM_TRAIN", 300)
    mp.setattr(translation, "NUM_TEST", 40)
    path = str(tmp_path_factory.mktemp("tfds_nmt"))
    translation.load_pairs("numbers_translation/fr", path)
    mp.undo()
    return path


def _study_config(data_dir, **overrides):
    from experiments.nmt import config as config_lib

    config = config_lib.get_config("tiny")
    config.data_dir = data_dir
    with config.unlocked():
        for key, value in overrides.items():
            setattr(config, key, value)
    return config


def _without_wall(summary):
    return {k: v for k, v in summary.items() if k != "wall_time_s"}


def test_study_resume_equals_uninterrupted_and_checkpoint_restores_vocab(tiny_corpus_dir,
                                                                         tmp_path, run_study):
    from experiments.nmt import study

    whole = study.run(_study_config(tiny_corpus_dir), str(tmp_path / "whole"))
    assert {"bleu", "exact_match", "bleu_by_source_length", "greedy_bleu"} <= set(whole)
    assert all(os.path.exists(tmp_path / "whole" / f) for f in (
        "bleu_by_length.png", "attention_maps.png"))
    resumed_dir = str(tmp_path / "resumed")
    assert study.run(_study_config(tiny_corpus_dir, stop_after_steps=10), resumed_dir) == {}
    resumed = study.run(_study_config(tiny_corpus_dir), resumed_dir)
    assert _without_wall(resumed) == _without_wall(whole)

    # The checkpoint round trip: a fresh Translator restores the params and the vocabulary.
    translator = study.Translator(resumed_dir)
    source_tok, target_tok = translation.load_tokenizers(os.path.join(resumed_dir, "tokenizer"))
    assert translator.source_tok.words == source_tok.words
    assert translator.target_tok.words == target_tok.words
    example = whole["examples"][0]
    assert translator.translate(example["source"]) == example["translation"]

    unknown = run_study("translate", [f"--workdir={resumed_dir}", "three hundred and zorg"])
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines()[-1].startswith("error: unknown word 'zorg'")
    empty = run_study("translate", [f"--workdir={tmp_path / 'empty'}", "three"])
    assert empty.returncode == 1 and "train first with python -m experiments.nmt" in empty.stderr


def test_study_refuses_bad_choices(tiny_corpus_dir, tmp_path):
    from experiments.nmt import config as config_lib
    from experiments.nmt import study

    with pytest.raises(UserError, match="choose one of default, compare, tiny"):
        config_lib.get_config("huge")
    for overrides, message in (({"model": "lstm"}, "choose seq2seq"),
                               ({"attention": "dot"}, "choose one of none, additive"),
                               ({"target_lang": "de"}, "choose one of fr, vi")):
        with pytest.raises(UserError, match=message):
            study.run(_study_config(tiny_corpus_dir, **overrides), str(tmp_path / "x"))
    with pytest.raises(UserError, match="unknown compare variant"):
        study.run(_study_config(tiny_corpus_dir, compare=("none+flip",)), str(tmp_path / "y"))


def test_tfds_translation_set_mock_data_and_not_prepared(tmp_path):
    import tensorflow_datasets as tfds

    name = "ted_hrlr_translate/pt_to_en"
    with pytest.raises(UserError, match=r"not prepared .*tfds build ted_hrlr_translate"):
        translation.load_pairs(name, str(tmp_path))
    with tfds.testing.mock_data(num_examples=12):
        train, test, source_key, target_key = translation.load_pairs(name, str(tmp_path))
    assert (source_key, target_key) == ("pt", "en")
    assert len(train) == 12 and len(test) == 12
    assert all(isinstance(s, str) and isinstance(t, str) for s, t in train)
    texts = [s for s, _ in train] + ["o gato come o peixe", "o peixe nada"] * 20
    tok = translation.SubwordVocab.train(texts, vocab_size=40)
    dataset = translation.make_dataset(name, train, test, tok, tok, 16, 16)
    assert dataset.train.inputs["source"].shape == (12, 16)
    assert (dataset.train.inputs["target_in"][:, 0] == translation.BOS).all()
    tok_dir = str(tmp_path / "tok")
    translation.save_tokenizers(tok_dir, tok, tok)
    source, _ = translation.load_tokenizers(tok_dir)
    ids = tok.encode("o gato nada")
    assert source.encode("o gato nada") == ids
    assert source.decode([*ids, translation.EOS, 7]) == "o gato nada"


def test_encoder_cell_matches_the_encoder_and_gradients_reach_every_position(tiny_data):
    from dl_jax.models import seq2seq
    from dl_jax.models.recurrent import time_mask

    model = _model(tiny_data, attention="none")
    dataset = tiny_data[0]
    inputs = {k: v[:4] for k, v in dataset.test.inputs.items()}
    params = jax.jit(model.init)(jax.random.key(2), inputs)["params"]

    @jax.jit
    def both(params, source):
        _, _, carry = model.apply({"params": params}, source, method=model.encode)
        embedded, lengths = model.apply({"params": params}, source, method=model.encode_embedded)
        zeros = jnp.zeros((source.shape[0], model.features))
        rolled, _ = jax.lax.scan(
            lambda c, x: (seq2seq.encoder_cell(params)(c, x), None), (zeros, zeros),
            (jnp.swapaxes(embedded, 0, 1), time_mask(lengths, embedded.shape[1])))
        return carry, rolled, lengths

    (c, h), (c_last, h_last), lengths = both(params, inputs["source"])
    np.testing.assert_allclose(np.asarray(h_last), np.asarray(h), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(c_last), np.asarray(c), rtol=1e-5, atol=1e-6)
    batch = {"source": inputs["source"], "target_in": inputs["target_in"],
             "target_out": dataset.test.labels[:4]}
    norms = np.asarray(seq2seq.encoder_state_grad_norms(model, params, batch))
    assert norms.shape == (inputs["source"].shape[1],)
    assert np.all(norms[: int(lengths.min())] > 0)
    json.dumps([float(x) for x in norms])

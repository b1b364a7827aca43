"""Translation data (chapter 4): the embedded number corpus, TFDS translation sets, tokenizers.

* The embedded corpus (``numbers_translation/<lang>``, a TFDS builder in ``embedded.py``): English
  sentences of one to eight numbers written out in words by num2words and joined by connective
  words ("plus", "minus", "times", "then", "or"), with their French (``fr``) or Vietnamese
  (``vi``) translation. Held-out sentences use only numbers from a held-out set (numbers >= 100
  picked by a hash) that no training sentence contains, so the test measures translation of
  unseen numbers, not recall. Target sentences are capped at ``MAX_TOKENS`` tokens.
* Real data: any TFDS translation set by name (``ted_hrlr_translate/pt_to_en``,
  ``wmt14_translate/de-en``...) read from a prepared ``data_dir`` (nothing is downloaded), with a
  sentencepiece model per side trained on its training split.

Both become a ``dl_jax.data.Dataset`` whose inputs are a dict of int32 arrays (``source``,
``target_in``) and whose labels are ``target_out``; token 0 is padding,
1 begin-of-sentence, 2 end-of-sentence, 3 unknown. The tokenizer is saved in the run directory
(``WORKDIR/tokenizer``) next to the checkpoints so a checkpoint always decodes with its own
vocabulary. num2words, sentencepiece and tensorflow_datasets are imported only when used.
"""

from __future__ import annotations

import functools
import json
import os
import re

import numpy as np

from dl_jax import data as data_lib
from dl_jax.errors import UserError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
LANGUAGES = ("fr", "vi")
EMBEDDED_NAME = "numbers_translation"
MAX_TOKENS = 120
NUM_TRAIN, NUM_TEST = 20_000, 1_000
# English connective -> translation per target language.
CONNECTIVES = {
    "plus": {"fr": "plus", "vi": "cộng"},
    "minus": {"fr": "moins", "vi": "trừ"},
    "times": {"fr": "fois", "vi": "nhân"},
    "then": {"fr": "puis", "vi": "rồi"},
    "or": {"fr": "ou", "vi": "hoặc"},
}
_TOKEN = re.compile(r"[^\W\d_]+|\d+|[^\w\s]")


# ---------------------------------------------------------------------------------------------
# The embedded corpus.
# ---------------------------------------------------------------------------------------------


def is_held_out(n: int) -> bool:
    """Whether number ``n`` is reserved for held-out sentences (about 10 % of n >= 100)."""
    return n >= 100 and ((n * 2654435761) >> 7) % 10 == 0


def _draw_number(rng: np.random.Generator, held_out: bool) -> int:
    while True:
        digits = int(rng.integers(3 if held_out else 1, 7))
        low = 0 if digits == 1 else 10 ** (digits - 1)
        n = int(rng.integers(low, 10**digits))
        if is_held_out(n) == held_out:
            return n


def generate_pairs(num: int, lang: str, *, held_out: bool, seed: int) -> list[tuple[str, str]]:
    """``num`` (English, translation) sentence pairs, a pure function of the arguments.

    Args:
      num: number of pairs.
      lang: target language, ``'fr'`` or ``'vi'``.
      held_out: draw numbers from the held-out set (test) instead of the rest (train).
      seed: numpy seed.

    Returns:
      Pairs of plain strings; both sides have at most ``MAX_TOKENS`` tokens.
    """
    from num2words import num2words

    if lang not in LANGUAGES:
        raise UserError(f"unknown target_lang {lang!r}: choose one of {', '.join(LANGUAGES)}")
    rng = np.random.default_rng(seed)
    words = list(CONNECTIVES)
    pairs = []
    while len(pairs) < num:
        count = int(rng.integers(1, 9))
        numbers = [_draw_number(rng, held_out) for _ in range(count)]
        links = [words[int(rng.integers(len(words)))] for _ in range(count - 1)]
        english, foreign = [num2words(numbers[0], lang="en")], [num2words(numbers[0], lang=lang)]
        for link, n in zip(links, numbers[1:], strict=True):
            english += [link, num2words(n, lang="en")]
            foreign += [CONNECTIVES[link][lang], num2words(n, lang=lang)]
        pair = (" ".join(english), " ".join(foreign))
        if max(len(tokenize(pair[0])), len(tokenize(pair[1]))) <= MAX_TOKENS:
            pairs.append(pair)
    return pairs


def tokenize(text: str) -> list[str]:
    """Words, numbers and punctuation marks (``-`` and ``,`` are tokens of their own)."""
    return _TOKEN.findall(text.lower())


def detokenize(tokens: list[str]) -> str:
    """Inverse of ``tokenize`` on the corpus's sentences (hyphens and commas re-attached)."""
    text = " ".join(tokens)
    return re.sub(r" ,", ",", re.sub(r" ?- ?", "-", text))


# ---------------------------------------------------------------------------------------------
# Tokenizers: one interface (encode, decode, size, save) for words and sentencepiece.
# ---------------------------------------------------------------------------------------------


class WordVocab:
    """A word-level vocabulary (the embedded corpus) with the four special tokens first."""

    kind = "words"

    def __init__(self, words: list[str]):
        self.words = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self._ids = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, sentences) -> WordVocab:
        """The sorted set of tokens of ``sentences``."""
        return cls(sorted({t for s in sentences for t in tokenize(s)}))

    @property
    def size(self) -> int:
        """Number of ids, specials included."""
        return len(self.words)

    def unknown_words(self, text: str) -> list[str]:
        """Tokens of ``text`` that are not in the vocabulary."""
        return [t for t in tokenize(text) if t not in self._ids]

    def encode(self, text: str) -> list[int]:
        """Token ids (unknown words map to ``UNK``); no BOS/EOS."""
        return [self._ids.get(t, UNK) for t in tokenize(text)]

    def decode(self, ids) -> str:
        """The sentence of ``ids`` up to the first EOS (specials dropped)."""
        return detokenize(self.tokens(ids))

    def tokens(self, ids) -> list[str]:
        """Token strings of ``ids`` up to the first EOS (specials dropped)."""
        out = []
        for i in ids:
            if int(i) == EOS:
                break
            if int(i) > UNK:
                out.append(self.words[int(i)])
        return out

    def save(self, directory: str, prefix: str) -> None:
        """Writes ``directory/<prefix>.json``."""
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"{prefix}.json"), "w") as f:
            json.dump({"kind": self.kind, "words": self.words}, f, ensure_ascii=False)


class SubwordVocab:
    """A sentencepiece model (real data) with ids 0-3 fixed to pad, bos, eos, unk."""

    kind = "sentencepiece"

    def __init__(self, model_proto: bytes):
        import sentencepiece as spm

        self.proto = model_proto
        self._sp = spm.SentencePieceProcessor(model_proto=model_proto)

    @classmethod
    def train(cls, sentences, vocab_size: int) -> SubwordVocab:
        """Trains a unigram model on ``sentences`` (in memory)."""
        import io

        import sentencepiece as spm

        buffer = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=buffer, vocab_size=vocab_size,
            pad_id=PAD, bos_id=BOS, eos_id=EOS, unk_id=UNK, hard_vocab_limit=False,
            character_coverage=1.0, input_sentence_size=1_000_000, shuffle_input_sentence=True,
            minloglevel=2)
        return cls(buffer.getvalue())

    @property
    def size(self) -> int:
        """Number of ids, specials included."""
        return self._sp.get_piece_size()

    def unknown_words(self, text: str) -> list[str]:
        """Subword models cover every input: always empty."""
        del text
        return []

    def encode(self, text: str) -> list[int]:
        """Subword ids; no BOS/EOS."""
        return list(self._sp.encode(text))

    def tokens(self, ids) -> list[str]:
        """Pieces of ``ids`` up to the first EOS."""
        ids = [int(i) for i in ids]
        ids = ids[: ids.index(EOS)] if EOS in ids else ids
        return [self._sp.id_to_piece(i) for i in ids if i > UNK]

    def decode(self, ids) -> str:
        """Text of ``ids`` up to the first EOS."""
        ids = [int(i) for i in ids]
        ids = ids[: ids.index(EOS)] if EOS in ids else ids
        return self._sp.decode([i for i in ids if i > UNK])

    def save(self, directory: str, prefix: str) -> None:
        """Writes ``directory/<prefix>.model``."""
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"{prefix}.model"), "wb") as f:
            f.write(self.proto)


def save_tokenizers(directory: str, source, target) -> None:
    """Saves both sides' tokenizers as ``source.*`` and ``target.*`` in ``directory``."""
    source.save(directory, "source")
    target.save(directory, "target")


def load_tokenizers(directory: str):
    """``(source, target)`` tokenizers saved by ``save_tokenizers``; UserError if missing."""
    loaded = []
    for prefix in ("source", "target"):
        words, model = (os.path.join(directory, f"{prefix}.{e}") for e in ("json", "model"))
        if os.path.exists(words):
            with open(words) as f:
                loaded.append(WordVocab(json.load(f)["words"]))
        elif os.path.exists(model):
            with open(model, "rb") as f:
                loaded.append(SubwordVocab(f.read()))
        else:
            raise UserError(f"no tokenizer in {directory}")
    return tuple(loaded)


# ---------------------------------------------------------------------------------------------
# Arrays and datasets.
# ---------------------------------------------------------------------------------------------


def encode_pairs(pairs, source_tok, target_tok, source_len: int, target_len: int):
    """``({'source', 'target_in'}, target_out)`` int32 arrays, padded with ``PAD``.

    Sentences longer than the lengths are cut (the target keeps room for EOS).
    """
    n = len(pairs)
    source = np.zeros((n, source_len), np.int32)
    target_in = np.zeros((n, target_len), np.int32)
    target_out = np.zeros((n, target_len), np.int32)
    for i, (src, tgt) in enumerate(pairs):
        s = source_tok.encode(src)[:source_len]
        t = target_tok.encode(tgt)[: target_len - 1]
        source[i, : len(s)] = s
        target_in[i, : len(t) + 1] = [BOS, *t]
        target_out[i, : len(t) + 1] = [*t, EOS]
    return {"source": source, "target_in": target_in}, target_out


def make_dataset(name, train_pairs, test_pairs, source_tok, target_tok, source_len=None,
                 target_len=None) -> data_lib.Dataset:
    """Encodes pairs into a ``Dataset`` (lengths default to the longest sentence + EOS)."""
    all_pairs = list(train_pairs) + list(test_pairs)
    source_len = source_len or max(len(source_tok.encode(s)) for s, _ in all_pairs)
    target_len = target_len or max(len(target_tok.encode(t)) for _, t in all_pairs) + 1
    splits = {}
    for split, pairs in (("train", train_pairs), ("test", test_pairs)):
        inputs, labels = encode_pairs(pairs, source_tok, target_tok, source_len, target_len)
        splits[split] = data_lib.Split(inputs, labels)
    return data_lib.Dataset(name=name, train=splits["train"], test=splits["test"],
                            num_classes=target_tok.size)


def load_pairs(name: str, data_dir: str | None, *, source_key: str | None = None,
               target_key: str | None = None, max_examples: int = 0):
    """``(train_pairs, test_pairs, source_key, target_key)`` of a TFDS translation set.

    The embedded ``numbers_translation/<lang>`` is generated on first use; any other name is read
    from a prepared ``data_dir`` (``UserError`` saying how to prepare it otherwise). The test split
    is ``test``, else ``validation``. ``max_examples`` > 0 keeps the first examples of each split.
    """
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    data_dir = data_dir or data_lib.default_data_dir()
    if name.split("/")[0] == EMBEDDED_NAME:
        from dl_jax.data.embedded import NumbersTranslation

        lang = name.split("/")[1] if "/" in name else "fr"
        if lang not in LANGUAGES:
            raise UserError(f"unknown target_lang {lang!r}: choose one of {', '.join(LANGUAGES)}")
        builder = data_lib.prepared_builder(functools.partial(
            NumbersTranslation, config=lang, data_dir=data_dir, file_format="array_record"),
            data_dir)
        source_fn = builder.as_data_source
    else:
        try:
            builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
        except Exception as error:  # unknown name or config
            raise UserError(f"unknown TFDS translation dataset {name!r}: {error}") from error

        def source_fn(split):
            return tfds.data_source(name, split=split, data_dir=data_dir, download=False)

    keys = builder.info.supervised_keys or tuple(builder.info.features.keys())[:2]
    source_key, target_key = source_key or keys[0], target_key or keys[1]
    splits = []
    for names in (("train",), ("test", "validation")):
        splits.append(_read_split(source_fn, names, name, data_dir, source_key, target_key,
                                  max_examples))
    return splits[0], splits[1], source_key, target_key


def _read_split(source_fn, names, name, data_dir, source_key, target_key, max_examples):
    error = None
    for split in names:
        try:
            source = source_fn(split)
        except Exception as e:  # TFDS raises several types for "not prepared" / "no split".
            error = e
            continue
        n = len(source) if not max_examples else min(max_examples, len(source))
        records = []
        for start in range(0, n, 4096):
            keys = list(range(start, min(n, start + 4096)))
            try:
                records.extend(source.__getitems__(keys))
            except (AttributeError, TypeError):  # mocked sources only support item access
                records.extend(source[i] for i in keys)
        return [(_text(r[source_key]), _text(r[target_key])) for r in records]
    message = data_lib._not_prepared_message(name, data_dir)  # noqa: SLF001
    raise UserError(message) from error


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)

"""Text normalisation, request-clause extraction and a JSON-persistable TF-IDF vectoriser.

Why: long WhatsApp messages tell a story first and ask last ("... kartu saya mati sejak Mei.
Gimana cara aktifin lagi?"). Counting every token of the story lets the context words (names of
other services, complaints) outvote the request. This module gives the components
  * `normalize`: lower case, identifiers replaced by placeholders (a NIK's digits are noise for
    n-grams, its presence is a signal), long letter repetitions shortened ("tolonggg" -> "tolongg"),
    a word of one repeated letter ("kkkkkk") a placeholder of its own;
  * `request_segment`: the clause that holds the last request cue (mau, minta, tolong, gimana,
    bisa, mohon, ...) up to the end of the message, or the last sentence if there is no cue;
  * `TextVectorizer`: word + char_wb n-grams with sublinear tf, idf and L2 normalisation, stored as
    plain JSON (vocabulary + idf) so that models load without pickles.
Used only inside the Rasa venv (numpy, scipy, scikit-learn).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

# Order matters: tickets and dates before bare digit runs.
_PLACEHOLDERS = [
    (re.compile(r"(?<![a-z0-9])pdw[- ]?\d{8}[- ]?\d{4}(?!\d)"), " xtiket "),
    (re.compile(r"(?<!\d)\d{4}[ .-]\d{4}[ .-]\d{4}[ .-]\d{4}(?!\d)"), " xnik "),
    (re.compile(r"(?<!\d)\d{16}(?!\d)"), " xnik "),
    (re.compile(r"(?<![\d+])(?:\+62|62|0)8[1-9]\d{1,2}[- ]?\d{3,4}[- ]?\d{3,5}(?!\d)"), " xhp "),
    (re.compile(r"(?<!\d)\d{13}(?!\d)"), " xkartu "),
    (re.compile(r"(?<!\d)(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:19|20)?\d{2}(?!\d)"),
     " xtanggal "),
    (re.compile(r"\d+"), " xangka "),
]
_REPEAT = re.compile(r"([a-z])\1{2,}")
# A word that is one letter typed over and over ("kkkkkkkk", "aaaaa") says nothing; shortened, it would
# become a real word ("kk": kartu keluarga). It becomes one placeholder the training data teaches.
_ONE_LETTER = re.compile(r"(?<![a-z])([a-z])\1{2,}(?![a-z])")
_SPACES = re.compile(r"\s+")
# Sentence / clause boundaries: punctuation, new lines, and connectives that usually start the ask.
_SENTENCE = re.compile(r"[.!?;\n]+|,\s*(?=(?:jadi|jd|makanya|terus|trus|trs|tapi|tp|nah|sekarang|skrg)\b)")
# Cues of the request itself (standard, informal, abbreviated, Javanese/Sundanese).
_CUES = (
    "mau|mo|pengen|pengin|pingin|ingin|minta|mnt|tolong|tlg|tolongin|mohon|mhn|gimana|gmn|gmna|"
    "bagaimana|bgmn|gimna|piye|kumaha|bisa|bisakah|bs|bsa|cara|caranya|bantu|bantuin|butuh|harap|"
    "apakah|kapan|gmana|knp|kenapa|dong|donk|nyuwun|nyuun|punten"
)
_CUE = re.compile(rf"(?<![a-z])(?:{_CUES})(?![a-z])")
# "tidak bisa" / "ga bisa" describe the problem, not the request.
_NEGATED = re.compile(r"(?:tidak|tdk|ga|gak|nggak|ngga|enggak|gk|g|blm|belum|ndak|gabisa)\s+$")


def normalize(text: str) -> str:
    """Lower-case, replace identifiers by placeholders, shorten letter runs, squeeze spaces."""
    text = (text or "").lower()
    for pattern, placeholder in _PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    text = _ONE_LETTER.sub(" xulang ", text)
    text = _REPEAT.sub(r"\1\1", text)
    return text


def _squeeze(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def request_segment(text: str, max_clauses: int = 2) -> str:
    """The clause with the last (non-negated) request cue up to the end, else the last sentence.

    Expects normalised text. A one-sentence message is its own request segment.
    """
    clauses = [c for c in (_squeeze(part) for part in _SENTENCE.split(text)) if c]
    if not clauses:
        return _squeeze(text)
    for index in range(len(clauses) - 1, -1, -1):
        for match in _CUE.finditer(clauses[index]):
            if not _NEGATED.search(clauses[index][: match.start()]):
                return " ".join(clauses[index:index + max_clauses])
    return clauses[-1]


class TextVectorizer:
    """Word and char_wb n-grams -> (sublinear) tf * idf -> L2-normalised sparse rows."""

    def __init__(self, word_ngrams: Sequence[int] = (1, 2), char_ngrams: Sequence[int] = (2, 5),
                 min_df: int = 1, sublinear_tf: bool = True, binary: bool = False) -> None:
        self.word_ngrams = tuple(word_ngrams)
        self.char_ngrams = tuple(char_ngrams)
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.binary = binary
        self.vocabularies: Dict[str, Dict[str, int]] = {}
        self.idf: Optional[np.ndarray] = None
        self._counters: List[CountVectorizer] = []

    def _make_counters(self, vocabularies: Optional[Dict[str, Dict[str, int]]] = None) -> List[CountVectorizer]:
        counters = []
        specs = [("word", self.word_ngrams), ("char_wb", self.char_ngrams)]
        for analyzer, ngrams in specs:
            if not ngrams or ngrams[0] <= 0:
                continue
            kwargs: Dict[str, Any] = dict(analyzer=analyzer, ngram_range=tuple(ngrams), lowercase=False,
                                          binary=self.binary, dtype=np.float64)
            if analyzer == "word":
                kwargs["token_pattern"] = r"(?u)\b\w+\b"  # keep 1-letter words (g, y, sy)
            if vocabularies is not None:
                kwargs["vocabulary"] = vocabularies[analyzer]
            else:
                kwargs["min_df"] = self.min_df
            counters.append((analyzer, CountVectorizer(**kwargs)))
        return counters

    def fit(self, texts: Sequence[str]) -> "TextVectorizer":
        counters = self._make_counters()
        blocks = []
        for analyzer, counter in counters:
            blocks.append(counter.fit_transform(texts))
            self.vocabularies[analyzer] = {k: int(v) for k, v in counter.vocabulary_.items()}
        self._counters = [c for _, c in counters]
        counts = sp.hstack(blocks).tocsr()
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf = np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        if not self._counters:
            self._counters = [c for _, c in self._make_counters(self.vocabularies)]
        counts = sp.hstack([c.transform(texts) for c in self._counters]).tocsr()
        if self.sublinear_tf:
            counts.data = np.log(counts.data) + 1.0
        counts = counts.multiply(self.idf).tocsr()
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1))).ravel()
        norms[norms == 0.0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ counts)

    @property
    def size(self) -> int:
        return 0 if self.idf is None else len(self.idf)

    def to_dict(self) -> Dict[str, Any]:
        return {"word_ngrams": list(self.word_ngrams), "char_ngrams": list(self.char_ngrams),
                "min_df": self.min_df, "sublinear_tf": self.sublinear_tf, "binary": self.binary,
                "vocabularies": self.vocabularies, "idf": [float(x) for x in self.idf]}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TextVectorizer":
        vectorizer = cls(data["word_ngrams"], data["char_ngrams"], data["min_df"], data["sublinear_tf"],
                         data.get("binary", False))
        vectorizer.vocabularies = data["vocabularies"]
        vectorizer.idf = np.asarray(data["idf"], dtype=np.float64)
        return vectorizer

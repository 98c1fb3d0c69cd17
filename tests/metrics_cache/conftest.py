"""Fixtures shared by the rollup tests in rollups/ and today/."""

from __future__ import annotations

import pytest

from metrics_cache.rollups import engine, jobs


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few rows and batches of two chunks, so a handful of rows spans many."""
    monkeypatch.setattr(engine, "FOLD_BATCH_ROWS", 6)
    monkeypatch.setattr(engine, "CHUNK_FIRST_ROWS", 3)
    monkeypatch.setattr(engine, "CHUNK_MIN_ROWS", 3)
    monkeypatch.setattr(engine, "CHUNK_MAX_ROWS", 3)
    monkeypatch.setattr(engine, "BUILD_PAUSE_SECONDS", 0)
    monkeypatch.setattr(jobs, "BUILD_PAUSE_SECONDS", 0)


@pytest.fixture
def delta_mode(settings):
    """Delta mode without the sync buffer: every test in the rollup files (their pytestmark)."""
    settings.TODAY_COUNT_MODE = "delta"
    settings.VISITOR_SYNC_BUFFER_MS = 0

"""BM25 that grows and shrinks without a full rebuild: immutable segments plus global statistics.

bm25s (which this replaced) precomputes every score against corpus-wide statistics, so a
single new document meant re-indexing everything. Here, as in Lucene, each write adds a
small segment of term frequencies; deletes clear a live bit; document frequencies, the
document count and the average length are kept corpus-wide, so scores are exactly those of
one index over the live passages (the Lucene BM25 variant bm25s uses, k1=1.5, b=0.75).
Small segments are merged once there are too many.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings.durable import replace_dir_atomic

K1 = 1.5
B = 0.75
MAX_SEGMENTS = 8


@dataclass
class _Segment:
    """Term frequencies of some passages, column-compressed by term id."""

    ids: np.ndarray  # int64 passage ids, one per row
    lengths: np.ndarray  # float32 token counts per row
    indptr: np.ndarray  # int64, entries of term t are [indptr[t], indptr[t+1])
    rows: np.ndarray  # int32 row of each entry
    tfs: np.ndarray  # float32 term frequency of each entry
    terms: np.ndarray  # int32 term of each entry
    live: np.ndarray  # bool per row

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        lengths: np.ndarray,
        rows: np.ndarray,
        terms: np.ndarray,
        tfs: np.ndarray,
        vocab_size: int,
    ) -> _Segment:
        order = np.argsort(terms, kind="stable")
        terms, rows, tfs = terms[order], rows[order], tfs[order]
        counts = np.bincount(terms, minlength=vocab_size)
        indptr = np.zeros(vocab_size + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(
            ids.astype(np.int64),
            lengths.astype(np.float32),
            indptr,
            rows.astype(np.int32),
            tfs.astype(np.float32),
            terms.astype(np.int32),
            np.ones(len(ids), dtype=bool),
        )

    def live_entries(self) -> np.ndarray:
        entries: np.ndarray = self.live[self.rows]
        return entries


class BM25Index:
    """Passage ids and their search tokens in; (id, BM25 score) out."""

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._segments: list[_Segment] = []
        self._df = np.zeros(0, dtype=np.int64)
        self._n = 0
        self._total = 0.0

    def __len__(self) -> int:
        return self._n

    def ids(self) -> np.ndarray:
        parts = [s.ids[s.live] for s in self._segments]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    @property
    def segments(self) -> int:
        return len(self._segments)

    # -- writing -----------------------------------------------------------------------------

    def add(self, ids: Sequence[int] | np.ndarray, token_lists: Sequence[Sequence[str]]) -> None:
        """Index passages (ids must not be in the index already)."""
        if not len(ids):
            return
        rows, terms, tfs = [], [], []
        lengths = np.zeros(len(ids), dtype=np.float32)
        for r, tokens in enumerate(token_lists):
            lengths[r] = max(len(tokens), 1)  # an empty passage counts as one token, as in bm25s
            for tok, n in Counter(tokens).items():
                t = self._vocab.setdefault(tok, len(self._vocab))
                rows.append(r)
                terms.append(t)
                tfs.append(n)
        if len(self._vocab) > len(self._df):
            self._df = np.concatenate(
                [self._df, np.zeros(len(self._vocab) - len(self._df), dtype=np.int64)]
            )
        seg = _Segment.build(
            np.asarray(ids),
            lengths,
            np.asarray(rows, dtype=np.int32),
            np.asarray(terms, dtype=np.int32),
            np.asarray(tfs, dtype=np.float32),
            len(self._vocab),
        )
        self._df += np.bincount(seg.terms, minlength=len(self._df))
        self._n += len(ids)
        self._total += float(lengths.sum())
        self._segments.append(seg)
        if len(self._segments) > MAX_SEGMENTS:
            self._merge_small()

    def remove(self, ids: Sequence[int] | np.ndarray) -> None:
        """Forget passages; ids not in the index are ignored."""
        gone = np.asarray(ids, dtype=np.int64)
        if not len(gone):
            return
        for seg in self._segments:
            hit = seg.live & np.isin(seg.ids, gone)
            if not hit.any():
                continue
            entries = hit[seg.rows]
            np.subtract.at(self._df, seg.terms[entries], 1)
            self._n -= int(hit.sum())
            self._total -= float(seg.lengths[hit].sum())
            seg.live &= ~hit
        self._segments = [s for s in self._segments if s.live.any()]

    def _merge_small(self) -> None:
        """Merge every segment but the largest into one: cheap, the large one stays as it is."""
        ordered = sorted(self._segments, key=lambda s: int(s.live.sum()), reverse=True)
        self._segments = [ordered[0], self._merged(ordered[1:])]

    def compact(self) -> None:
        """One segment with only live passages (after many deletes)."""
        if self._segments:
            self._segments = [self._merged(self._segments)]

    def _merged(self, segments: list[_Segment]) -> _Segment:
        ids, lengths, rows, terms, tfs = [], [], [], [], []
        base = 0
        for seg in segments:
            new_row = np.cumsum(seg.live) - 1 + base
            keep = seg.live_entries()
            ids.append(seg.ids[seg.live])
            lengths.append(seg.lengths[seg.live])
            rows.append(new_row[seg.rows[keep]])
            terms.append(seg.terms[keep])
            tfs.append(seg.tfs[keep])
            base += int(seg.live.sum())
        return _Segment.build(
            np.concatenate(ids),
            np.concatenate(lengths),
            np.concatenate(rows).astype(np.int32),
            np.concatenate(terms).astype(np.int32),
            np.concatenate(tfs),
            len(self._vocab),
        )

    # -- reading -----------------------------------------------------------------------------

    def search(
        self, tokens: Sequence[str], k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (id, score) with a positive score; `allowed` limits the ids considered."""
        tids = [self._vocab[t] for t in tokens if t in self._vocab]
        if not tids or self._n == 0 or k <= 0:
            return []
        n, avg = self._n, self._total / self._n
        idf = [math.log(1 + (n - self._df[t] + 0.5) / (self._df[t] + 0.5)) for t in tids]
        found_ids, found_scores = [], []
        for seg in self._segments:
            scores = np.zeros(len(seg.ids), dtype=np.float32)
            norm = K1 * ((1 - B) + B * seg.lengths / avg)
            for t, w in zip(tids, idf, strict=True):
                if t + 1 >= len(seg.indptr):
                    continue
                s, e = seg.indptr[t], seg.indptr[t + 1]
                if s == e:
                    continue
                r, tf = seg.rows[s:e], seg.tfs[s:e]
                scores[r] += np.float32(w) * tf / (norm[r] + tf)
            scores[~seg.live] = 0
            if allowed is not None:
                scores[~np.isin(seg.ids, allowed)] = 0
            nz = np.flatnonzero(scores > 0)
            if len(nz) > k:
                nz = nz[np.argpartition(-scores[nz], k - 1)[:k]]
            found_ids.append(seg.ids[nz])
            found_scores.append(scores[nz])
        ids = np.concatenate(found_ids)
        scores = np.concatenate(found_scores)
        order = np.lexsort((ids, -scores))[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]

    # -- disk --------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the index as a directory, replacing `path` atomically."""
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        vocab = sorted(self._vocab, key=self._vocab.__getitem__)
        _write_synced(tmp / "vocab.json", json.dumps(vocab, ensure_ascii=False).encode())
        for i, seg in enumerate(self._segments):
            with open(tmp / f"segment-{i}.npz", "wb") as f:
                np.savez(f, **vars(seg))
                f.flush()
                os.fsync(f.fileno())
        replace_dir_atomic(tmp, path)

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        """Read a saved index; raises ValueError when it is missing parts or damaged."""
        try:
            return cls._load(path)
        except (OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path} is damaged: {exc}") from exc

    @classmethod
    def _load(cls, path: Path) -> BM25Index:
        index = cls()
        vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        if not isinstance(vocab, list):
            raise ValueError(f"{path / 'vocab.json'} is not a list of terms")
        index._vocab = {t: i for i, t in enumerate(vocab)}
        index._df = np.zeros(len(vocab), dtype=np.int64)
        files = sorted(path.glob("segment-*.npz"), key=lambda p: int(p.stem.split("-")[1]))
        for file in files:
            with np.load(file) as data:
                seg = _Segment(**{name: data[name] for name in _Segment.__dataclass_fields__})
            if len(seg.indptr) > len(vocab) + 1 or (
                len(seg.terms) and seg.terms.max() >= len(vocab)
            ):
                raise ValueError(f"{file} names terms that {path / 'vocab.json'} lacks")
            entries = seg.live_entries()
            index._df += np.bincount(seg.terms[entries], minlength=len(vocab))
            index._n += int(seg.live.sum())
            index._total += float(seg.lengths[seg.live].sum())
            index._segments.append(seg)
        return index


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())

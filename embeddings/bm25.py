"""BM25 that grows and shrinks without a rebuild: immutable segments, exact corpus-wide scores.

bm25s (which this replaced) precomputes every score against corpus-wide statistics, so one new
document meant re-indexing everything. Here, as in Lucene, a write adds a small segment of term
frequencies and a delete clears a live bit. Document frequencies are counted at query time (a
term's postings, less those of deleted rows in segments that have any) and the passage count and
total length are kept corpus-wide, so scores are exactly those of one index over the live
passages (the Lucene BM25 variant bm25s uses, k1=1.5, b=0.75: benchmarks/tune_lexical.py has
k1=1.2 ahead by .0002 of mean hit@1, a tie, and milvus-lite scores with 1.5 whatever its
index asks, so 1.5 keeps the two backends ranking alike). `search` uses MaxScore, so a
query reads few of its common terms' postings (at a million passages, a third of the time).

Merges are tiered, as Lucene's TieredMergePolicy: segments fall in tiers by size (powers of
`MERGE_FACTOR`) and a tier's segments are merged once it holds `MERGE_FACTOR` of them, so a
passage is rewritten about log4(n / write size) times in its life and a write never pays for
the large segments. The backend runs merges in the background in three steps: `plan_merge`
under its reader lock, `build_merge` with no lock (segments are immutable; the live bits are
copied into the plan), `commit_merge` under its writer lock (deletes that landed meanwhile are
carried over). `add` merges the smallest segments itself only when the background is so far
behind that more than `MAX_SEGMENTS` pile up.

On disk, as LevelDB's MANIFEST: a directory of immutable files named by random ids (segments,
vocabulary chunks, live bits) and manifest.json naming the current ones, replaced last by an
atomic rename. A checkpoint writes only the segments and terms that are new since the previous
one, then the manifest, then deletes the files no manifest names. Segment files are mapped into
memory, not read, so opening a large index reads only the vocabulary and the live bits.

Over 300 lines on purpose: segments, tiered merges, MaxScore search and the manifest-named
files on disk share one set of arrays and invariants; split apart, each would need the others.
"""

from __future__ import annotations

import json
import math
import os
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.durable import fsync_dir, write_atomic

K1 = 1.5
B = 0.75
MERGE_FACTOR = 4
MAX_SEGMENTS = 40
MAX_VOCAB_CHUNKS = 16  # a checkpoint past this many rewrites the vocabulary as one chunk
MANIFEST = "manifest.json"
FORMAT = 2
_ARRAYS = ("ids", "lengths", "terms", "indptr", "rows", "tfs", "maxtf", "minlen")
_MAGIC = b"zhbm25\x00\x01"


def _new_name() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(eq=False)
class _Segment:
    """Term frequencies of some passages, column-compressed by term. Only `live` ever changes."""

    name: str  # random, never reused: its file is seg-<name>.bin
    ids: np.ndarray  # int64 passage ids, ascending, one per row
    lengths: np.ndarray  # float32 token count per row
    terms: np.ndarray  # int32 vocabulary ids this segment holds, ascending
    indptr: np.ndarray  # int64: postings of terms[j] are [indptr[j], indptr[j+1])
    rows: np.ndarray  # int32 row of each posting, ascending within a term
    tfs: np.ndarray  # float32 term frequency of each posting
    maxtf: np.ndarray  # float32 per term: its largest tf here ...
    minlen: np.ndarray  # float32 per term: ... and its shortest passage (score upper bounds)
    live: np.ndarray  # bool per row
    dead: int = 0

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        lengths: np.ndarray,
        rows: np.ndarray,
        terms: np.ndarray,
        tfs: np.ndarray,
    ) -> _Segment:
        """From postings in any order; `ids` ascending."""
        order = np.argsort(terms.astype(np.int64) * max(len(ids), 1) + rows, kind="stable")
        terms, rows, tfs = terms[order], rows[order].astype(np.int32), tfs[order].astype(np.float32)
        starts = np.flatnonzero(np.diff(terms, prepend=-1)) if len(terms) else np.zeros(0, int)
        lengths = lengths.astype(np.float32)
        empty = np.zeros(0, dtype=np.float32)
        return cls(
            _new_name(),
            ids.astype(np.int64),
            lengths,
            terms[starts].astype(np.int32),
            np.append(starts, len(terms)).astype(np.int64),
            rows,
            tfs,
            np.maximum.reduceat(tfs, starts) if len(tfs) else empty,
            np.minimum.reduceat(lengths[rows], starts) if len(tfs) else empty,
            np.ones(len(ids), dtype=bool),
        )

    @property
    def size(self) -> int:
        """Live passages."""
        return len(self.ids) - self.dead

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Rows of those of `ids` (sorted, unique) that this segment holds."""
        return _positions(self.ids, ids)


def _positions(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """Indexes into sorted `haystack` of the `needles` it contains."""
    pos = np.searchsorted(haystack, needles)
    ok = pos < len(haystack)
    pos = pos[ok]
    found: np.ndarray = pos[haystack[pos] == needles[ok]]
    return found


def _contains(sorted_values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mask over `x`: which values are in `sorted_values`."""
    if not len(sorted_values):
        return np.zeros(len(x), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_values, x), len(sorted_values) - 1)
    found: np.ndarray = sorted_values[pos] == x
    return found


@dataclass
class MergePlan:
    """Segments to merge and their live rows when the plan was made."""

    sources: list[_Segment]
    keep: list[np.ndarray]  # live row numbers of each source


@dataclass
class Merged:
    plan: MergePlan
    segment: _Segment
    order: np.ndarray  # merged row i came from concatenated kept row order[i]


@dataclass
class Snapshot:
    """What a checkpoint writes, taken under the reader lock in O(segments + deleted rows)."""

    segments: list[_Segment]
    live: dict[str, np.ndarray]  # copies, for the segments with deletes
    terms: list[str]  # the vocabulary list itself: append-only, so read up to vocab_size later
    vocab_size: int


class BM25Index:
    """Passage ids and their search tokens in; (id, BM25 score) out."""

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._terms: list[str] = []
        self._segments: list[_Segment] = []
        self._n = 0
        self._total = 0.0
        self._save_lock = threading.Lock()
        self._disk: tuple[Path, dict[str, Any]] | None = None  # the manifest last written/read

    def __len__(self) -> int:
        return self._n

    def ids(self) -> np.ndarray:
        """Every live id, ascending."""
        parts = [s.ids[s.live] for s in self._segments]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    @property
    def segments(self) -> int:
        return len(self._segments)

    @property
    def generation(self) -> str | None:
        """The id of the manifest this index last wrote or was read from."""
        return str(self._disk[1]["generation"]) if self._disk else None

    # -- writing -----------------------------------------------------------------------------

    def add(self, ids: Sequence[int] | np.ndarray, token_lists: Sequence[Sequence[str]]) -> None:
        """Index passages as one new segment (ids must not be in the index already)."""
        if not len(ids):
            return
        id_arr = np.asarray(ids, dtype=np.int64)
        order = np.argsort(id_arr, kind="stable")
        lists = [token_lists[i] for i in order]
        flat = list(chain.from_iterable(lists))
        for term in sorted(t for t in set(flat) if t not in self._vocab):
            self._vocab[term] = len(self._terms)
            self._terms.append(term)
        counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        tids = np.fromiter(map(self._vocab.__getitem__, flat), dtype=np.int64, count=len(flat))
        width = max(len(self._terms), 1)
        pairs = np.repeat(np.arange(len(lists)), counts) * width + tids
        keys, tfs = np.unique(pairs, return_counts=True)  # one posting per (row, term)
        lengths = np.maximum(counts, 1).astype(np.float32)  # an empty passage counts one token
        seg = _Segment.build(id_arr[order], lengths, keys // width, keys % width, tfs)
        self._segments.append(seg)
        self._n += len(lists)
        self._total += float(lengths.sum(dtype=np.float64))
        if len(self._segments) > MAX_SEGMENTS:
            smallest = sorted(self._segments, key=lambda s: s.size)[:MERGE_FACTOR]
            self.commit_merge(self.build_merge(self._plan(smallest)))

    def remove(self, ids: Sequence[int] | np.ndarray) -> None:
        """Forget passages; ids not in the index are ignored."""
        gone = np.unique(np.asarray(ids, dtype=np.int64))
        if not len(gone):
            return
        for seg in self._segments:
            rows = seg.rows_of(gone)
            rows = rows[seg.live[rows]]
            if len(rows):
                seg.live[rows] = False
                seg.dead += len(rows)
                self._n -= len(rows)
                self._total -= float(seg.lengths[rows].sum(dtype=np.float64))
        self._segments = [s for s in self._segments if s.size]

    # -- merging -----------------------------------------------------------------------------

    def plan_merge(self) -> MergePlan | None:
        """The next merge the tiered policy wants, or None (call under the reader lock)."""
        tiers: dict[int, list[_Segment]] = {}
        for seg in self._segments:
            tiers.setdefault(int(math.log(max(seg.size, 1), MERGE_FACTOR)), []).append(seg)
        for tier in sorted(tiers):
            if len(tiers[tier]) >= MERGE_FACTOR:
                return self._plan(tiers[tier])
        for seg in self._segments:
            if 2 * seg.dead > len(seg.ids):  # mostly deleted: rewrite it to reclaim the rows
                return self._plan([seg])
        return None

    @staticmethod
    def _plan(sources: list[_Segment]) -> MergePlan:
        return MergePlan(list(sources), [np.flatnonzero(s.live) for s in sources])

    @staticmethod
    def build_merge(plan: MergePlan) -> Merged:
        """One segment of the plan's live rows, ids ascending (reads only immutable arrays)."""
        ids = np.concatenate([s.ids[k] for s, k in zip(plan.sources, plan.keep, strict=True)])
        lengths = np.concatenate(
            [s.lengths[k] for s, k in zip(plan.sources, plan.keep, strict=True)]
        )
        order = np.argsort(ids, kind="stable")
        new_row = np.empty(len(ids), dtype=np.int64)
        new_row[order] = np.arange(len(ids))
        rows, terms, tfs = [], [], []
        base = 0
        for seg, keep in zip(plan.sources, plan.keep, strict=True):
            remap = np.full(len(seg.ids), -1, dtype=np.int64)
            remap[keep] = new_row[base : base + len(keep)]
            base += len(keep)
            moved = remap[seg.rows]
            ok = moved >= 0
            rows.append(moved[ok])
            terms.append(np.repeat(seg.terms, np.diff(seg.indptr))[ok])
            tfs.append(seg.tfs[ok])
        segment = _Segment.build(
            ids[order],
            lengths[order],
            np.concatenate(rows),
            np.concatenate(terms),
            np.concatenate(tfs),
        )
        return Merged(plan, segment, order)

    def commit_merge(self, merged: Merged) -> bool:
        """Put the merged segment in place of its sources (call under the writer lock).

        Deletes since the plan are carried over; False (nothing changes) when a source is no
        longer in the index (merged or compacted meanwhile).
        """
        sources = merged.plan.sources
        if any(all(s is not t for t in self._segments) for s in sources):
            return False
        live_now = np.concatenate(
            [s.live[k] for s, k in zip(sources, merged.plan.keep, strict=True)]
        )
        seg = merged.segment
        seg.live = live_now[merged.order]
        seg.dead = int(len(seg.live) - np.count_nonzero(seg.live))
        rest = [s for s in self._segments if all(s is not t for t in sources)]
        self._segments = rest + ([seg] if seg.size else [])
        return True

    def merge(self) -> int:
        """Run every merge the policy wants now, in this thread; how many ran."""
        done = 0
        while (plan := self.plan_merge()) is not None:
            done += self.commit_merge(self.build_merge(plan))
        return done

    def compact(self) -> None:
        """One segment with only live passages (after many deletes)."""
        if self._segments:
            self.commit_merge(self.build_merge(self._plan(self._segments)))

    # -- reading -----------------------------------------------------------------------------

    def search(
        self, tokens: Sequence[str], k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (id, score) with a positive score; `allowed` limits the ids considered.

        Exact, but not by scoring every posting: as Lucene's MaxScore, a first guess at the
        k-th best score (the passages of the rarest terms, fully scored) makes the common
        terms "non-essential" when even their summed upper bounds cannot reach it; only the
        postings of the other terms are then walked, and the common terms' contributions
        are looked up for the surviving candidates alone.
        """
        counts = Counter(self._vocab[t] for t in tokens if t in self._vocab)
        if not counts or self._n == 0 or k <= 0:
            return []
        only = None if allowed is None else np.unique(np.asarray(allowed, dtype=np.int64))
        if only is not None and not len(only):
            return []
        tids = np.array(sorted(counts), dtype=np.int32)
        views = [_View(seg, tids) for seg in self._segments]
        df = np.sum([v.live_df() for v in views], axis=0) if views else np.zeros(len(tids))
        n = self._n
        query = _Query(
            (np.log(1 + (n - df + 0.5) / (df + 0.5)) * [counts[int(t)] for t in tids]).astype(
                np.float32
            ),
            self._total / n,
            only,
        )
        theta = _first_threshold(views, query, k)
        found_ids, found_scores = [], []
        for view in views:
            rows, scores = view.top(query, k, theta)
            found_ids.append(view.seg.ids[rows])
            found_scores.append(scores)
        ids = np.concatenate(found_ids)
        scores = np.concatenate(found_scores)
        order = np.lexsort((ids, -scores))[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]

    # -- disk --------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """What `write` needs, copied cheaply (call under the reader lock)."""
        live = {s.name: s.live.copy() for s in self._segments if s.dead}
        return Snapshot(list(self._segments), live, self._terms, len(self._terms))

    def save(self, path: Path) -> None:
        """Write the index to the directory `path` (no other thread may write meanwhile)."""
        self.write(self.snapshot(), path)

    def write(self, snap: Snapshot, path: Path) -> None:
        """Write a snapshot to `path` (needs no lock): new files first, the manifest last."""
        with self._save_lock:
            path.mkdir(parents=True, exist_ok=True)
            prev = self._current_manifest(path)
            chunks: list[list[Any]] = list(prev["vocab"]) if prev else []
            have = sum(int(c) for _, c in chunks)
            if have > snap.vocab_size or len(chunks) >= MAX_VOCAB_CHUNKS:
                chunks, have = [], 0
            if snap.vocab_size > have:
                name = f"vocab-{_new_name()}.json"
                terms = snap.terms[have : snap.vocab_size]
                _write_synced(path / name, json.dumps(terms, ensure_ascii=False).encode())
                chunks.append([name, snap.vocab_size - have])
            segments = []
            for seg in snap.segments:
                name = f"seg-{seg.name}.bin"
                if not (path / name).exists():  # names are never reused: it holds this segment
                    _write_arrays(path / name, {a: getattr(seg, a) for a in _ARRAYS})
                segments.append(name)
            live = None
            if snap.live:
                live = f"live-{_new_name()}.bin"
                _write_arrays(path / live, {k: np.packbits(v) for k, v in snap.live.items()})
            manifest = {
                "format": FORMAT,
                "generation": _new_name(),
                "vocab": chunks,
                "segments": segments,
                "live": live,
            }
            fsync_dir(path)  # the files' names are durable before the manifest names them
            write_atomic(path / MANIFEST, json.dumps(manifest).encode())
            named = {MANIFEST, *segments, *(c[0] for c in chunks), *([live] if live else [])}
            for file in path.iterdir():
                if file.name not in named and file.is_file():
                    file.unlink()
            self._disk = (path, manifest)

    def _current_manifest(self, path: Path) -> dict[str, Any] | None:
        """The manifest this index last wrote or read at `path`, if it is still the one there."""
        if self._disk is None or self._disk[0] != path:
            return None
        try:
            on_disk = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        same = (
            isinstance(on_disk, dict) and on_disk.get("generation") == self._disk[1]["generation"]
        )
        return self._disk[1] if same else None

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        """Read a saved index; raises ValueError when it is missing parts or damaged."""
        try:
            return cls._load(path)
        except (OSError, KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"{path} is damaged: {exc}") from exc

    @classmethod
    def _load(cls, path: Path) -> BM25Index:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError(f"{path / MANIFEST} is not a format-{FORMAT} manifest")
        index = cls()
        for name, count in manifest["vocab"]:
            chunk = json.loads((path / name).read_text(encoding="utf-8"))
            if not isinstance(chunk, list) or len(chunk) != count:
                raise ValueError(f"{path / name} does not hold {count} terms")
            index._terms += chunk
        index._vocab = {t: i for i, t in enumerate(index._terms)}
        if len(index._vocab) != len(index._terms):
            raise ValueError(f"{path}: the vocabulary repeats terms")
        live: dict[str, np.ndarray] = {}
        if manifest["live"]:
            live = _read_arrays(path / manifest["live"])
        for file in manifest["segments"]:
            a = _read_arrays(path / file)
            live_rows = np.ones(len(a["ids"]), dtype=bool)
            seg = _Segment(
                file[4:-4],
                a["ids"],
                a["lengths"],
                a["terms"],
                a["indptr"],
                a["rows"],
                a["tfs"],
                a["maxtf"],
                a["minlen"],
                live_rows,
            )
            _check(seg, len(index._terms), path / file)
            if seg.name in live:
                seg.live = np.unpackbits(live[seg.name], count=len(seg.ids)).astype(bool)
                seg.dead = int(len(seg.ids) - np.count_nonzero(seg.live))
            if seg.size:
                index._segments.append(seg)
                index._n += seg.size
                index._total += float(seg.lengths[seg.live].sum(dtype=np.float64))
        index._disk = (path, manifest)
        return index


@dataclass
class _Query:
    weights: np.ndarray  # float32 per query term: idf × how often the query says it
    avg: float  # average passage length
    only: np.ndarray | None  # sorted allowed ids


class _View:
    """Where a query's terms' postings are in one segment."""

    def __init__(self, seg: _Segment, tids: np.ndarray) -> None:
        self.seg = seg
        self.n = len(tids)
        j = np.minimum(np.searchsorted(seg.terms, tids), max(len(seg.terms) - 1, 0))
        held = seg.terms[j] == tids if len(seg.terms) else np.zeros(len(tids), dtype=bool)
        self.q = np.flatnonzero(held)  # query terms this segment holds
        self.j = j[self.q]
        self.starts = seg.indptr[self.j]
        self.ends = seg.indptr[self.j + 1]

    def live_df(self) -> np.ndarray:
        """Live passages holding each query term (zeros for the terms this segment lacks)."""
        counts = self.ends - self.starts
        if self.seg.dead:
            rows, live = self.seg.rows, self.seg.live
            counts = np.array(
                [
                    np.count_nonzero(live[rows[s:e]])
                    for s, e in zip(self.starts, self.ends, strict=True)
                ],
                dtype=np.int64,
            )
        out = np.zeros(self.n, dtype=np.int64)
        out[self.q] = counts
        return out

    def postings(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s, e = self.starts[i], self.ends[i]
        return self.seg.rows[s:e], self.seg.tfs[s:e]

    def contribution(self, query: _Query, i: int, rows: np.ndarray, tfs: np.ndarray) -> np.ndarray:
        """Term i's BM25 share for passages (rows) with term frequencies tfs (float32)."""
        norm = K1 * ((1 - B) + B * self.seg.lengths[rows] / query.avg)
        out: np.ndarray = query.weights[self.q[i]] * tfs / (norm + tfs)
        return out

    def bounds(self, query: _Query) -> np.ndarray:
        """An upper bound of each held term's share in any passage here (float64, padded)."""
        tf = self.seg.maxtf[self.j].astype(np.float64)
        norm = K1 * ((1 - B) + B * self.seg.minlen[self.j] / query.avg)
        bound: np.ndarray = query.weights[self.q].astype(np.float64) * tf / (norm + tf)
        return bound * (1 + 1e-5) + 1e-6

    def usable(self, query: _Query, rows: np.ndarray) -> np.ndarray:
        """Mask over `rows`: live and allowed."""
        keep = self.seg.live[rows] if self.seg.dead else np.ones(len(rows), dtype=bool)
        if query.only is not None:
            keep &= _contains(query.only, self.seg.ids[rows])
        return keep

    def add_shares(
        self, query: _Query, terms: np.ndarray, rows: np.ndarray, sums: np.ndarray
    ) -> None:
        """Add these terms' shares for `rows` to `sums`, looking each row up in the postings."""
        for i in terms.tolist():
            p_rows, p_tfs = self.postings(i)
            pos = np.searchsorted(p_rows, rows)
            hit = pos < len(p_rows)
            hit[hit] = p_rows[pos[hit]] == rows[hit]
            if hit.any():
                sums[hit] += self.contribution(query, i, rows[hit], p_tfs[pos[hit]])

    def score(self, query: _Query, rows: np.ndarray) -> np.ndarray:
        """Exact scores of these rows (float32 shares summed in float64: exactly, so in any
        order, and a passage's score does not depend on how it became a candidate)."""
        sums = np.zeros(len(rows))
        self.add_shares(query, np.arange(len(self.q)), rows, sums)
        return sums.astype(np.float32)

    def top(self, query: _Query, k: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
        """Rows and scores of this segment's top k (those that can reach `theta`)."""
        if not len(self.q):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        bounds = self.bounds(query)
        order = np.argsort(bounds, kind="stable")
        lazy = order[: int(np.searchsorted(np.cumsum(bounds[order]), theta))]
        eager = np.setdiff1d(order, lazy)
        parts = [self.postings(i) for i in eager.tolist()]
        shares = [
            self.contribution(query, i, r, t)
            for i, (r, t) in zip(eager.tolist(), parts, strict=True)
        ]
        rows, sums = _accumulate([r for r, _ in parts], shares, len(self.seg.ids))
        keep = self.usable(query, rows)
        rows, sums = rows[keep], sums[keep]
        # Lazy terms, largest bound first; after each, drop the candidates that even the
        # remaining lazy terms' best shares cannot lift to theta (MaxScore).
        remaining = float(bounds[lazy].sum())
        for i in lazy[::-1]:
            reach = sums + remaining >= theta * (1 - 1e-5)
            rows, sums = rows[reach], sums[reach]
            self.add_shares(query, i[None], rows, sums)
            remaining -= float(bounds[i])
        scores = sums.astype(np.float32)
        if len(rows) > k:  # ties with the k-th all stay: the final order breaks them by id
            best = scores >= np.partition(scores, len(scores) - k)[len(scores) - k]
            rows, scores = rows[best], scores[best]
        return rows, scores


def _first_threshold(views: list[_View], query: _Query, k: int) -> float:
    """A lower bound of the k-th best score: the k-th best full score among the passages
    holding the query's rarest terms (taken until they hold 2k postings)."""
    order = np.argsort(-query.weights, kind="stable")
    chosen: list[int] = []
    total = 0
    for q in order.tolist():
        chosen.append(q)
        total += sum(int(np.sum((v.ends - v.starts)[v.q == q])) for v in views)
        if total >= 2 * k:
            break
    scores = []
    for v in views:
        held = [i for i in range(len(v.q)) if int(v.q[i]) in chosen]
        if not held:
            continue
        rows = np.unique(np.concatenate([v.postings(i)[0] for i in held]))
        scores.append(v.score(query, rows[v.usable(query, rows)]))
    found = np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)
    return float(np.partition(found, len(found) - k)[len(found) - k]) if len(found) >= k else 0.0


def _accumulate(
    rows: list[np.ndarray], scores: list[np.ndarray], n_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows with any share and their summed shares (float64), from per-term parts: a dense
    bincount over the segment's rows when the postings cover much of it, else a sort of the
    postings alone."""
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    if len(rows) == 1:
        return rows[0].astype(np.int64), scores[0].astype(np.float64)  # a term's rows are unique
    r, s = np.concatenate(rows), np.concatenate(scores)
    if len(r) * 16 >= n_rows:
        dense = np.bincount(r, weights=s, minlength=n_rows)
        cand = np.flatnonzero(dense)
        return cand, dense[cand]
    cand, inverse = np.unique(r, return_inverse=True)
    return cand, np.bincount(inverse, weights=s, minlength=len(cand))


def _check(seg: _Segment, vocab_size: int, file: Path) -> None:
    n, p = len(seg.ids), len(seg.rows)
    ok = (
        len(seg.lengths) == n
        and len(seg.indptr) == len(seg.terms) + 1
        and len(seg.tfs) == p
        and len(seg.maxtf) == len(seg.minlen) == len(seg.terms)
        and (not len(seg.indptr) or int(seg.indptr[-1]) == p)
        and (not len(seg.terms) or int(seg.terms.max()) < vocab_size)
        and bool(np.all(np.diff(seg.ids) > 0))
    )
    if not ok:
        raise ValueError(f"{file} is inconsistent with itself or with the vocabulary")


def _write_synced(path: Path, data: bytes) -> None:
    """Write `data` under a temporary name, fsync, rename: the name never holds half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """1-D arrays in one file that `_read_arrays` maps without reading: a JSON header of
    (name, dtype, length, offset), then the arrays at 64-byte aligned offsets."""
    header: list[tuple[str, str, int, int]] = []
    offset = 0
    for name, a in arrays.items():
        header.append((name, a.dtype.str, int(a.size), offset))
        offset += -(-a.nbytes // 64) * 64
    head = json.dumps(header).encode()
    head += b" " * (-(len(head) + 16) % 64)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(_MAGIC + len(head).to_bytes(8, "little") + head)
        for (_, _, _, at), a in zip(header, arrays.values(), strict=True):
            f.seek(16 + len(head) + at)
            f.write(np.ascontiguousarray(a).tobytes())
        f.truncate(16 + len(head) + offset)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a `_write_arrays` file, memory-mapped read-only: opening an index reads
    only the headers, and the pages a query needs come from the page cache."""
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    if len(mm) < 16 or bytes(mm[:8]) != _MAGIC:
        raise ValueError(f"{path} is not an index file")
    size = int.from_bytes(bytes(mm[8:16]), "little")
    header = json.loads(bytes(mm[16 : 16 + size]))
    base, out = 16 + size, {}
    for name, dtype, count, at in header:
        end = base + at + count * np.dtype(dtype).itemsize
        if end > len(mm):
            raise ValueError(f"{path} is truncated")
        out[name] = mm[base + at : end].view(np.ndarray).view(dtype)  # plain views: fast slicing
    return out

"""Scale on one machine: 100k and 1M passages through `LocalBackend`.

    .venv/bin/python benchmarks/scale.py [--sizes 100000,1000000] [--real-sample 3000]

Corpus: real Chinese text. The sentences of seeds/*.txt and of the CMRC2018 and DRCD dev
contexts are tokenised once each (the project's tokenizer), then recombined at random into
passages of about 300 characters (the chunk target), 20 passages a document, written through
`LocalBackend.write` in batches, as the indexer would. Vectors are synthetic (embedding a
million passages takes days on this CPU): unit vectors drawn around 1,000 topic centroids,
each topic spread over a few dozen directions, so clusters and IVF lists behave as with real
embeddings; `--real-sample` also embeds that many real passages and questions with the
project's encoder and measures IVF recall on them.

Per size: dense top-10 p50 (one query at a time) and recall@10 against exact search, lexical
top-10 p50 for real questions, one 20-passage document written (vectors precomputed: the
embedding is excluded), restart to lexical-ready and resident memory per passage (in a fresh
process), bytes on disk per passage. Prints a table and writes benchmarks/results/scale.md.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from common import BENCH, QUESTIONS, RESULTS, ROOT

from embeddings.backends.local import LEXICAL, VECTORS, LocalBackend  # noqa: E402
from embeddings.store import NewDocument, NewPassage  # noqa: E402
from embeddings.tokenizer import default_tokenizer  # noqa: E402
from embeddings.vector_index import (  # noqa: E402
    TRAIN_PER_LIST,
    ExactTopK,
    VectorIndex,
    nlist_for,
)

DIM = 384  # multilingual-e5-small
PER_DOC = 20
BATCH_DOCS = 500  # documents per write while building (10,000 passages)
SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|\n")
PASSAGE_CUT = re.compile(r"(?<=[。！？!?；;\n])")
PUBLIC = ("cmrc2018_dev.json", "DRCD_dev.json")


# -- corpus ----------------------------------------------------------------------------------


@dataclass
class Sentences:
    texts: list[str] = field(default_factory=list)
    tokens: list[list[str]] = field(default_factory=list)


def real_texts() -> list[str]:
    """Seed documents and public dev-set contexts: the real text the corpus is made of."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))]
    for name in ("cmrc2018_dev.json", "DRCD_dev.json"):
        path = BENCH / name
        if not path.exists():
            print(f"note: {path} is absent; the corpus is made from the seeds alone")
            continue
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        texts += [p["context"] for a in data["data"] for p in a["paragraphs"]]
    return texts


def split_sentences(texts: list[str]) -> Sentences:
    """Each sentence of the texts, tokenised once."""
    tok = default_tokenizer()
    out = Sentences()
    for text in texts:
        for s in SENTENCE_END.split(text):
            s = s.strip()
            if len(s) >= 6:
                out.texts.append(s)
                out.tokens.append(tok.bm25_tokens(s))
    return out


def passages(sentences: Sentences, rng: random.Random, n: int) -> Iterator[tuple[str, list[str]]]:
    """`n` passages of random sentences, about 300 characters each."""
    count = len(sentences.texts)
    for _ in range(n):
        parts: list[str] = []
        tokens: list[str] = []
        size = 0
        while size < 250 and len(parts) < 12:
            i = rng.randrange(count)
            parts.append(sentences.texts[i])
            tokens += sentences.tokens[i]
            size += len(sentences.texts[i])
        yield "".join(parts), tokens


# -- synthetic vectors -----------------------------------------------------------------------


class Topics:
    """Synthetic passage vectors shaped like multilingual-e5-small's on real Chinese passages.

    Fitted to 3,558 real passages (the CMRC2018 and DRCD dev contexts cut at ~300 characters,
    embedded with the project's encoder): every vector shares one mean direction (norm 0.909),
    and the rest (variance 0.173) spreads over all 384 dimensions with eigenvalues falling as
    i^-0.7. Vectors are drawn from a two-level mixture in that shape, 300 topics of 30
    subtopics (shares 0.7², 0.6² and 0.39² of the residual variance), which reproduces, at
    the real sample's size, its random-pair cosine (0.828 ± 0.023 against 0.827 ± 0.022), how
    far the nearest and the 10th nearest neighbour stand out (4.9 and 3.0 standard deviations
    against 4.5 and 2.7) and IVF's difficulty (91 lists: 24 probes reach recall@10 0.97 on
    both). Isotropic noise would make every neighbour equally far (IVF looks worse than it
    is); one cluster level makes neighbours too easy or the 10th too hard.
    """

    MEAN_NORM, RESIDUAL, DECAY = 0.909, 0.173, 0.7
    TOPICS, SUBTOPICS, SHARES = 300, 30, (0.7, 0.6)

    def __init__(self, dim: int = DIM, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.mean = rng.standard_normal(dim).astype(np.float32)
        self.mean *= self.MEAN_NORM / np.linalg.norm(self.mean)
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        spectrum = np.arange(1, dim + 1) ** -self.DECAY
        spectrum *= self.RESIDUAL / spectrum.sum()
        self.shape = (np.sqrt(spectrum)[:, None] * basis.T).astype(np.float32)  # z @ shape
        a1, a2 = self.SHARES
        self.topics = self._gauss(rng, self.TOPICS) * a1
        self.subtopics = self._gauss(rng, self.TOPICS * self.SUBTOPICS) * a2
        self.noise = float(np.sqrt(1 - a1 * a1 - a2 * a2))

    def _gauss(self, rng: np.random.Generator, n: int) -> np.ndarray:
        z = rng.standard_normal((n, self.shape.shape[0])).astype(np.float32)
        out: np.ndarray = z @ self.shape
        return out

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        topic = rng.integers(0, self.TOPICS, n)
        sub = topic * self.SUBTOPICS + rng.integers(0, self.SUBTOPICS, n)
        v = self.mean + self.topics[topic] + self.subtopics[sub]
        return _unit(v + self.noise * self._gauss(rng, n))


def _unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    return out


# -- measuring -------------------------------------------------------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def p50_ms(times: list[float]) -> float:
    return round(1000 * statistics.median(times), 3)


def p95_ms(times: list[float]) -> float:
    ordered = sorted(times)
    return round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 3)


def disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def document(i: int, items: list[tuple[str, list[str]]], vectors: np.ndarray) -> NewDocument:
    doc_id = f"scale-{i:07d}"
    ps, at = [], 0
    for j, ((text, tokens), vec) in enumerate(zip(items, vectors, strict=True)):
        ps.append(NewPassage(f"{doc_id}-{j}", doc_id, "", text, at, at + len(text), vec, tokens))
        at += len(text)
    text = "".join(t for t, _ in items)
    return NewDocument(doc_id, doc_id, "scale", f"{i:064x}", text, ps)


def questions(limit: int = 300) -> list[str]:
    """Real questions: the seed dev set and a sample of the public dev sets."""
    qs = [
        json.loads(line)["question"]
        for line in (QUESTIONS / "seeds.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    for name in ("cmrc2018_dev.json", "DRCD_dev.json"):
        if (BENCH / name).exists():
            data = json.loads((BENCH / name).read_text(encoding="utf-8-sig"))
            qs += [q["question"] for a in data["data"] for p in a["paragraphs"] for q in p["qas"]]
    random.Random(3).shuffle(qs)
    return qs[:limit]


def questions_tokens(limit: int = 300) -> list[list[str]]:
    tok = default_tokenizer()
    return [t for t in (tok.bm25_tokens(q) for q in questions(limit)) if t]


def open_and_measure(index_dir: Path, queries: list[list[str]]) -> dict[str, float]:
    """In a fresh process: open the index, time until a lexical search answers and until the
    vector index has loaded too; resident memory grown once both are in and queries ran."""
    before = rss_mb()
    t0 = time.perf_counter()
    backend = LocalBackend(index_dir, DIM)
    with backend.reading():
        backend.lexical_search(queries[0], 10, None)
    lexical = time.perf_counter() - t0
    vectors = backend.vectors  # waits for the background load
    dense = time.perf_counter() - t0
    with backend.reading():
        for q in queries:
            backend.lexical_search(q, 10, None)
        for v in vectors.ids()[:: max(1, len(vectors) // 50)][:50]:
            backend.dense_search(vectors.vector(int(v)), 10, None)
    after = rss_mb()
    out = {"lexical_ready_s": lexical, "dense_ready_s": dense, "rss_mb": after - before}
    t0 = time.perf_counter()
    backend.close()
    out["close_unchanged_s"] = time.perf_counter() - t0
    return out


def restart(index_dir: Path, queries: list[list[str]]) -> dict[str, float]:
    arg = json.dumps(queries, ensure_ascii=False)
    out = subprocess.run(
        [sys.executable, __file__, "--open", str(index_dir), "--queries", arg],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(size: int, sentences: Sentences, topics: Topics, workdir: Path) -> dict[str, object]:
    index_dir = workdir / f"scale-{size}"
    shutil.rmtree(index_dir, ignore_errors=True)
    rng = random.Random(size)
    vrng = np.random.default_rng(size)
    qrng = np.random.default_rng(size + 1)
    dense_queries = topics.draw(qrng, 200)
    truth = ExactTopK(dense_queries, 10)
    backend = LocalBackend(index_dir, DIM)
    texts = passages(sentences, rng, size)
    t0 = time.perf_counter()
    written, doc_no = 0, 0
    while written < size:
        count = min(BATCH_DOCS * PER_DOC, size - written)
        vecs = topics.draw(vrng, count)  # one draw a batch: small matrix products are slow
        docs = [
            document(doc_no + i, [next(texts) for _ in range(len(part))], part)
            for i, part in enumerate(np.split(vecs, range(PER_DOC, count, PER_DOC)))
        ]
        doc_no += len(docs)
        written += count
        result = backend.write(docs, [])
        ids = np.concatenate([np.asarray(result.added[d.doc_id]) for d in docs])
        truth.observe(ids, vecs)
        if doc_no % (BATCH_DOCS * 10) == 0:
            print(f"  {written:,} passages written, {time.perf_counter() - t0:.0f} s", flush=True)
    build_s = time.perf_counter() - t0
    backend.wait_idle()
    settle_s = time.perf_counter() - t0 - build_s
    print(f"  built in {build_s:.0f} s, background work done {settle_s:.0f} s later", flush=True)

    out: dict[str, object] = {
        "passages": size,
        "build_s": round(build_s, 1),
        "settle_s": round(settle_s, 1),
        "vector_kind": backend.vectors.kind,
        "nlist": backend.vectors.nlist,
        "nprobe": backend.vectors.nprobe,
        "bm25_segments": backend.lexical.segments,
    }

    # dense: one query at a time, recall against the exact top-10 kept while writing
    exact = truth.result()
    times, hits = [], 0
    with backend.reading():
        for q, want in zip(dense_queries, exact, strict=True):
            t = time.perf_counter()
            got = backend.dense_search(q, 10, None)
            times.append(time.perf_counter() - t)
            hits += len({i for i, _ in got} & set(want.tolist()))
    out["dense_p50_ms"], out["dense_p95_ms"] = p50_ms(times), p95_ms(times)
    out["dense_recall@10"] = round(hits / (10 * len(dense_queries)), 4)
    five_docs = [f"scale-{i:07d}" for i in range(0, doc_no, max(1, doc_no // 5))][:5]
    with backend.reading():
        allowed = backend.restrict(five_docs)
        times = []
        for q in dense_queries[:50]:
            t = time.perf_counter()
            backend.dense_search(q, 10, allowed)
            times.append(time.perf_counter() - t)
    out["dense_filtered_p50_ms"] = p50_ms(times)

    # lexical: real questions
    queries = questions_tokens()
    times = []
    with backend.reading():
        for tokens in queries:
            t = time.perf_counter()
            backend.lexical_search(tokens, 10, None)
            times.append(time.perf_counter() - t)
    out["lexical_p50_ms"], out["lexical_p95_ms"] = p50_ms(times), p95_ms(times)

    # one 20-passage document, vectors precomputed
    times = []
    for i in range(20):
        items = [next(passages(sentences, rng, 1)) for _ in range(PER_DOC)]
        doc = document(doc_no + i, items, topics.draw(vrng, PER_DOC))
        t = time.perf_counter()
        backend.write([doc], [])
        times.append(time.perf_counter() - t)
    out["write_20_p50_ms"], out["write_20_max_ms"] = p50_ms(times), round(1000 * max(times), 1)
    items = [next(passages(sentences, rng, 1)) for _ in range(PER_DOC)]
    doc = document(doc_no + 1, items, topics.draw(vrng, PER_DOC))
    t = time.perf_counter()
    backend.write([doc], [])  # replaces document doc_no + 1: 20 deletes and 20 adds
    out["replace_20_ms"] = round(1000 * (time.perf_counter() - t), 1)

    t = time.perf_counter()
    backend.close()
    out["close_s"] = round(time.perf_counter() - t, 1)
    del backend
    gc.collect()

    out.update({k: round(v, 2) for k, v in restart(index_dir, queries[:50]).items()})
    n = size + 20
    out["rss_bytes_per_passage"] = round(float(out["rss_mb"]) * 2**20 / n)  # type: ignore[arg-type]
    for name, path in (
        ("sqlite", index_dir / "meta.sqlite"),
        ("faiss", index_dir / VECTORS),
        ("bm25", index_dir / LEXICAL),
    ):
        extra = [index_dir / "meta.sqlite-wal"] if name == "sqlite" else []
        total = disk_bytes(path) + sum(disk_bytes(p) for p in extra if p.exists())
        out[f"disk_{name}_bytes_per_passage"] = round(total / n)
    shutil.rmtree(index_dir, ignore_errors=True)
    return out


def real_passages() -> list[str]:
    """The CMRC2018 and DRCD dev contexts cut after sentence ends into ~300-character passages."""
    texts = []
    for name in PUBLIC:
        if not (BENCH / name).exists():
            continue
        data = json.loads((BENCH / name).read_text(encoding="utf-8-sig"))
        for context in (p["context"] for a in data["data"] for p in a["paragraphs"]):
            cur = ""
            for s in PASSAGE_CUT.split(context):
                cur += s
                if len(cur) >= 300:
                    texts.append(cur)
                    cur = ""
            if cur.strip():
                texts.append(cur)
    return texts


def real_questions(n: int = 300) -> list[str]:
    qs = []
    for name in PUBLIC:
        if (BENCH / name).exists():
            data = json.loads((BENCH / name).read_text(encoding="utf-8-sig"))
            qs += [q["question"] for a in data["data"] for p in a["paragraphs"] for q in p["qas"]]
    random.Random(0).shuffle(qs)
    return qs[:n]


def neighbour_stats(v: np.ndarray, label: str) -> dict[str, float]:
    """Random-pair cosine, and how far the nearest and 10th nearest neighbour stand out (in
    standard deviations of the random-pair cosine), over 500 stored vectors as queries."""
    sims = v[:500] @ v.T
    np.fill_diagonal(sims, np.nan)
    ranked = np.sort(np.nan_to_num(sims, nan=-1.0), axis=1)
    mean, sd = float(np.nanmean(sims)), float(np.nanstd(sims))
    return {
        f"{label}_random_cos": round(mean, 3),
        f"{label}_random_cos_sd": round(sd, 4),
        f"{label}_nn_z": round((float(ranked[:, -1].mean()) - mean) / sd, 2),
        f"{label}_10th_nn_z": round((float(ranked[:, -10].mean()) - mean) / sd, 2),
    }


def real_sample(count: int, workdir: Path, cache: Path | None) -> dict[str, object]:
    """IVF recall on real embeddings: up to `count` real passages and 300 real questions
    embedded with the project's encoder (or read from `cache`), indexed by a backend whose
    exact limit is lowered so it switches to IVF and calibrates nprobe as it does at scale."""
    texts, qs = real_passages()[:count], real_questions(300)
    digest = hashlib.sha1("\x00".join(texts + qs).encode()).hexdigest()
    t0 = time.perf_counter()
    if cache is not None and cache.exists() and str(np.load(cache)["digest"]) == digest:
        with np.load(cache) as saved:
            pv, qv = saved["P"], saved["Q"]
    else:
        from service.factory import build_encoder
        from service.settings import Settings

        encoder = build_encoder(Settings(data_dir=ROOT / "data"))
        pv = encoder.encode_passages(texts, cache=False)
        qv = encoder.encode_queries(qs)
        if cache is not None:
            np.savez(cache, P=pv, Q=qv, digest=np.array(digest))
    stats: dict[str, object] = {"real_passages": len(texts), "real_questions": len(qs)}
    stats["real_embed_s"] = round(time.perf_counter() - t0, 1)
    stats.update(neighbour_stats(pv, "real"))
    index_dir = workdir / "real"
    shutil.rmtree(index_dir, ignore_errors=True)
    backend = LocalBackend(index_dir, pv.shape[1], exact_limit=1000)
    tok = default_tokenizer()
    docs = []
    for i in range(0, len(texts), PER_DOC):
        items = [(t, tok.bm25_tokens(t)) for t in texts[i : i + PER_DOC]]
        docs.append(document(i, items, pv[i : i + PER_DOC]))
    result = backend.write(docs, [])
    backend.wait_idle()
    ids = np.concatenate([np.asarray(result.added[d.doc_id]) for d in docs])
    exact = ExactTopK(qv, 10)
    exact.observe(ids, pv)
    hits = 0
    with backend.reading():
        for q, want in zip(qv, exact.result(), strict=True):
            hits += len({i for i, _ in backend.dense_search(q, 10, None)} & set(want.tolist()))
    stats["real_ivf_lists"] = backend.vectors.nlist
    stats["real_ivf_nprobe"] = backend.vectors.nprobe
    stats["real_questions_recall@10"] = round(hits / (10 * len(qv)), 4)
    backend.close()
    shutil.rmtree(index_dir, ignore_errors=True)
    return stats


def latency(search: Callable[[np.ndarray], object], queries: np.ndarray) -> tuple[float, float]:
    """p50 and fastest single-query time in ms (the fastest shows the cost without the
    waits a busy shared machine adds)."""
    times = []
    for q in queries:
        t = time.perf_counter()
        search(q)
        times.append(time.perf_counter() - t)
    return p50_ms(times), round(1000 * min(times), 3)


def index_choice(topics: Topics, sizes: list[int]) -> list[dict[str, object]]:
    """Exact (flat) against IVF as the backend builds it, by size; HNSW at the largest size;
    a filtered IVF search scored exactly or through the selector: what the limits rest on."""
    rng = np.random.default_rng(11)
    queries = topics.draw(np.random.default_rng(12), 100)
    vecs = topics.draw(rng, max(sizes))
    ids = np.arange(len(vecs))
    rows: list[dict[str, object]] = []
    ivf = VectorIndex(DIM)
    for n in sizes:
        flat = VectorIndex(DIM)
        flat.add(ids[:n], vecs[:n])
        nlist = nlist_for(n)
        sample = vecs[:n][rng.choice(n, min(n, TRAIN_PER_LIST * nlist), replace=False)]
        ivf = VectorIndex.trained(DIM, nlist, sample)
        ivf.add(ids[:n], vecs[:n])
        picked = rng.choice(n, 200, replace=False)
        stored = ExactTopK(vecs[picked], 11)
        stored.observe(ids[:n], vecs[:n])
        ivf.calibrate(vecs[picked], ids[picked], stored.result())
        exact = ExactTopK(queries, 10)
        exact.observe(ids[:n], vecs[:n])
        hits = sum(
            len({i for i, _ in ivf.search(q, 10)} & set(want.tolist()))
            for q, want in zip(queries, exact.result(), strict=True)
        )
        rows.append(
            {
                "vectors": n,
                "flat p50 / fastest ms": latency(lambda q, f=flat: f.search(q, 10), queries),
                "IVF lists, nprobe": (nlist, ivf.nprobe),
                "IVF recall@10": round(hits / (10 * len(queries)), 3),
                "IVF p50 / fastest ms": latency(lambda q, i=ivf: i.search(q, 10), queries),
            }
        )
        print(rows[-1], flush=True)
    n = max(sizes)
    t = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 40
    hnsw.add(vecs)
    build = time.perf_counter() - t
    hnsw.hnsw.efSearch = 64
    exact = ExactTopK(queries, 10)
    exact.observe(ids, vecs)
    hits = sum(
        len(set(hnsw.search(q[None], 10)[1][0].tolist()) & set(want.tolist()))
        for q, want in zip(queries, exact.result(), strict=True)
    )
    rows.append(
        {
            "vectors": n,
            "HNSW (M 32, efConstruction 40, efSearch 64) build s": round(build, 1),
            "HNSW recall@10": round(hits / (10 * len(queries)), 3),
            "HNSW p50 / fastest ms": latency(lambda q: hnsw.search(q[None], 10), queries),
        }
    )
    for m in (500, 2000, 10_000):
        allowed = np.sort(rng.choice(n, min(m, n), replace=False))
        exact_ms = latency(lambda q, a=allowed: ivf._exact_among(q, 10, a), queries[:30])
        with _never_exact():
            selector_ms = latency(lambda q, a=allowed: ivf.search(q, 10, a), queries[:30])
        rows.append(
            {
                "vectors": n,
                "filter of": m,
                "exact over the allowed p50 / fastest ms": exact_ms,
                "IVF with a selector p50 / fastest ms": selector_ms,
            }
        )
    return rows


@contextmanager
def _never_exact() -> Iterator[None]:
    import embeddings.vector_index as vi

    saved = vi.RECONSTRUCT_COST
    vi.RECONSTRUCT_COST = 10**9
    try:
        yield
    finally:
        vi.RECONSTRUCT_COST = saved


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--real-sample", type=int, default=0, help="real passages to embed (0: none)")
    ap.add_argument("--real-cache", type=Path, help="an .npz keeping the real sample's vectors")
    ap.add_argument("--workdir", type=Path, default=None, help="where indexes are built (temp)")
    ap.add_argument("--choice-sizes", default="5000,10000,20000,40000,100000")
    ap.add_argument("--out", type=Path, default=RESULTS / "scale.md")
    ap.add_argument("--open", type=Path, help=argparse.SUPPRESS)  # the restart subprocess
    ap.add_argument("--queries", default="[]", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.open:
        print(json.dumps(open_and_measure(args.open, json.loads(args.queries))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    t0 = time.perf_counter()
    sentences = split_sentences(real_texts())
    print(f"{len(sentences.texts):,} real sentences tokenised in {time.perf_counter() - t0:.0f} s")
    topics = Topics()
    header: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "sentences": len(sentences.texts),
        "load average at start": os.getloadavg()[0],
        **neighbour_stats(topics.draw(np.random.default_rng(1), 3558), "synthetic"),
    }
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.real_sample:
            header.update(real_sample(args.real_sample, workdir, args.real_cache))
            print(header)
        choice = []
        if args.choice_sizes:
            choice = index_choice(topics, [int(s) for s in args.choice_sizes.split(",")])
        rows = []
        for size in sizes:
            print(f"{size:,} passages", flush=True)
            row = measure(size, sentences, topics, workdir)
            print(json.dumps(row), flush=True)
            rows.append(row)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report(header, choice, rows, args.out)
    return 0


# (key, what it is, the target at a million passages)
MEASURES = [
    ("build_s", "writing the corpus through `LocalBackend.write`, 10,000 passages a write (s)", ""),
    (
        "settle_s",
        "background merges and vector rebuilds still running after the last write (s)",
        "",
    ),
    ("vector_kind", "vector index", "IVF past the limit"),
    ("nlist", "IVF lists", ""),
    ("nprobe", "IVF lists probed (calibrated at build)", ""),
    ("bm25_segments", "BM25 segments", ""),
    ("dense_p50_ms", "dense top-10, one query, p50 (ms)", "≤ 2"),
    ("dense_p95_ms", "dense top-10, p95 (ms)", ""),
    ("dense_recall@10", "dense recall@10 against exact search (200 queries)", "≥ 0.95"),
    ("dense_filtered_p50_ms", "dense top-10 within 5 documents, p50 (ms)", ""),
    ("lexical_p50_ms", "lexical top-10, real questions, p50 (ms)", "≤ 20"),
    ("lexical_p95_ms", "lexical top-10, p95 (ms)", ""),
    ("write_20_p50_ms", "one new 20-passage document, vectors given, p50 of 20 (ms)", "≤ 1000"),
    ("write_20_max_ms", "the same, slowest of 20 (ms)", "≤ 1000"),
    ("replace_20_ms", "replacing a 20-passage document (20 deletes, 20 adds) (ms)", ""),
    ("close_s", "close after writes (saves what changed) (s)", ""),
    ("lexical_ready_s", "restart (new process): open until a lexical search answers (s)", "≤ 10"),
    ("dense_ready_s", "restart: until the vector index has loaded too (s)", ""),
    ("close_unchanged_s", "close with nothing changed (s)", ""),
    ("rss_mb", "resident memory grown by the open index, after queries (MB)", ""),
    ("rss_bytes_per_passage", "resident memory per passage (bytes)", "reported"),
    ("disk_sqlite_bytes_per_passage", "disk per passage: meta.sqlite (bytes)", ""),
    ("disk_faiss_bytes_per_passage", "disk per passage: vectors.faiss (bytes)", ""),
    ("disk_bm25_bytes_per_passage", "disk per passage: lexical/ (bytes)", ""),
]


def report(
    header: dict[str, object],
    choice: list[dict[str, object]],
    rows: list[dict[str, object]],
    out: Path,
) -> None:
    lines = [
        "# Scale",
        "",
        "Made by `.venv/bin/python benchmarks/scale.py` (see its docstring for the corpus and",
        "the vectors). Latencies are single-threaded calls into `LocalBackend` on a shared",
        "two-core machine whose load average is given: p50 includes the waits other processes",
        "cause; the fastest call shows the cost itself.",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in header.items()]
    if choice:
        lines += ["", "## Exact or IVF, and filters", ""]
        for row in choice:
            lines.append("- " + "; ".join(f"{k}: {v}" for k, v in row.items()))
    if rows:
        lines += ["", "## At scale", ""]
        lines += [
            "| measure | target at 1M | " + " | ".join(f"{r['passages']:,}" for r in rows) + " |"
        ]
        lines += ["|---|---|" + "---|" * len(rows)]
        for key, label, target in MEASURES:
            values = " | ".join(str(r.get(key, "")) for r in rows)
            lines.append(f"| {label} | {target} | {values} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())

"""One configuration for the engine, whose defaults are the tuned ones.

The values were chosen by measurement (benchmarks/tune_fusion.py, tune_answers.py,
quality.py); a library user who builds an engine without settings gets them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from embeddings.answers import AnswerConfig
from embeddings.chunking import ChunkerConfig

Fusion = Literal["rrf", "minmax"]


@dataclass(frozen=True)
class EngineConfig:
    chunker: ChunkerConfig = field(default_factory=ChunkerConfig)
    # Min-max normalised scores mixed 0.4 dense / 0.6 BM25: benchmarks/results/fusion.md
    fusion: Fusion = "minmax"
    mix_alpha: float = 0.4  # dense share of the min-max mix
    # ... for a question without Chinese, whose BM25 query is only what the dictionary
    # bridges and whose dense side reads those words too (searcher._with_words). On the 59
    # English dev questions hybrid hit@1 was .678 / .712 / .712 / .763 / .678 at .3 to .7.
    mix_alpha_bridged: float = 0.6
    rrf_k: int = 5  # with fusion="rrf": weighted RRF, k=5, BM25 weight 3
    lexical_weight: float = 3.0
    candidates: int = 50  # how deep each retriever looks before fusion
    # An English question's dense top passages where the bridge finds its words' Chinese
    # terms (embeddings/bridge.py). 50 lost one seed dev answer (s032) to 100, which holds
    # the whole seed corpus, as the bridge read before; a fixed number keeps its cost flat.
    bridge_neighbours: int = 100
    max_doc_ids: int = 100  # most documents in one search filter
    # How long a query waits for others to share its encoder call; 0: off. Off by default:
    # the int8 encoder's vectors depend on their batchmates (see Searcher._encode).
    micro_batch_ms: float = 0.0
    micro_batch_max: int = 32
    # Query vectors kept for repeated queries (a page reload, a mode switch, /ask after
    # /search, popular questions); 0: off. A vector is 1.5 kB and its key a query of up to
    # 1,000 characters, so 4096 entries hold 6 to 15 MB.
    query_cache: int = 4096
    answers: AnswerConfig = field(default_factory=AnswerConfig)

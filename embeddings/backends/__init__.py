"""Storage backends: where passages, their vectors and their BM25 tokens live."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.errors import EmbedderError
from index.embedder import make_embedder, normalise_spec


def test_e5_prefixes_and_unit_vectors(e5: Any) -> None:
    assert e5.spec == "e5-small-q4" and e5.dimension == 384
    q = e5.embed_query_array("Hvem skal Kim Jong-un møte?")
    docs = e5.embed_documents_array(
        [
            "Kim Jong-un planla å reise til Russland for et møte med president Vladimir Putin.",
            "Været i Bergen har vært tørt i november.",
        ]
    )
    assert docs.shape == (2, 384)
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-3)
    assert float(docs[0] @ q) > float(docs[1] @ q)
    # the LangChain interface returns plain lists of the same vectors
    assert np.allclose(e5.embed_query("x"), e5.embed_query_array("x"))


def test_e5_counts_query_tokens(e5: Any) -> None:
    short, long = e5.query_tokens("Hvem?"), e5.query_tokens("Hvem er Sergej Radtsjenko?")
    assert short is not None and long is not None
    assert 3 <= short < long  # the "query: " prefix and the special tokens count too


def test_packaged_minilm_through_sentence_transformers() -> None:
    st = make_embedder("st:all-MiniLM-L6-v2")
    assert st.spec == "st:all-MiniLM-L6-v2" and st.dimension == 384
    docs = st.embed_documents_array(["The cat sat on the mat.", "Stock markets fell today."])
    q = st.embed_query_array("Where did the cat sit?")
    assert float(docs[0] @ q) > float(docs[1] @ q)
    assert st.query_tokens("Where did the cat sit?") is None  # not known for st: models


def test_unknown_specs_are_clear_errors() -> None:
    with pytest.raises(EmbedderError, match="unknown embedder"):
        normalise_spec("word2vec")
    with pytest.raises(EmbedderError, match="cannot load"):
        make_embedder("st:/nonexistent/model/dir")

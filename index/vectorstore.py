"""One build of one article as a LangChain vector store over the shared sentence collection.

The collection holds every article's sentences, so every search is scoped to the build's
generation: a search through this store never sees another article or a dead build.
"""

from __future__ import annotations

from typing import Any


def scoped_vectorstore(client: Any, collection: str, generation: str, embedding: Any) -> Any:
    """A `langchain_chroma.Chroma` whose similarity searches see only `generation`'s rows."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document

    def scoped(extra: dict[str, Any] | None) -> dict[str, Any]:
        mine: dict[str, Any] = {"generation": generation}
        return {"$and": [mine, extra]} if extra else mine

    class ScopedChroma(Chroma):
        """Chroma with the build's generation ANDed into every search filter."""

        def similarity_search_with_score(
                self, query: str, k: int = 4, filter: dict[str, Any] | None = None,
                where_document: dict[str, Any] | None = None, **kwargs: Any,
        ) -> list[tuple[Document, float]]:
            return super().similarity_search_with_score(
                query, k=k, filter=scoped(filter), where_document=where_document, **kwargs)

        def similarity_search_by_vector(
                self, embedding: list[float], k: int = 4,
                filter: dict[str, Any] | None = None,
                where_document: dict[str, Any] | None = None, **kwargs: Any,
        ) -> list[Document]:
            return super().similarity_search_by_vector(
                embedding, k=k, filter=scoped(filter), where_document=where_document, **kwargs)

        def similarity_search_by_vector_with_relevance_scores(
                self, embedding: list[float], k: int = 4,
                filter: dict[str, Any] | None = None,
                where_document: dict[str, Any] | None = None, **kwargs: Any,
        ) -> list[tuple[Document, float]]:
            return super().similarity_search_by_vector_with_relevance_scores(
                embedding, k=k, filter=scoped(filter), where_document=where_document,
                **kwargs)

    return ScopedChroma(client=client, collection_name=collection, embedding_function=embedding,
                        create_collection_if_not_exists=False)

"""Build time: article file -> sentences -> chunks -> embeddings -> Chroma."""

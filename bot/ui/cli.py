"""The command line: `articlebot <command> [options]` (also `python -m bot`).

stdout carries results only; progress and notices go to stderr. Exit codes: 0 answered or
abstained, 1 a --fail-under gate failed, 2 bad input or another domain error (one line on
stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot import __version__
from bot.settings import Settings, config_error
from core.errors import ArticlebotError, ConfigError
from core.files import sha256_file

if TYPE_CHECKING:
    from bot.answer_records import Answer
    from bot.engine import Engine
    from bot.eval.qafile import QAItem
    from bot.events import Event
    from bot.training.examples import QAItem as TrainingItem
    from bot.training.reranker.recipe import TrainSettings

EXIT_OK, EXIT_GATE, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit code 2."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(EXIT_ERROR, f"{self.prog}: error: {printable(message)}\n")


def _common(p: argparse.ArgumentParser, llm: bool = False) -> None:
    g = p.add_argument_group("common options")
    g.add_argument("--store", metavar="DIR", help="store directory (env ARTICLEBOT_STORE)")
    g.add_argument("--chroma-url", metavar="URL", help="use a Chroma server instead")
    g.add_argument("--chroma-token", metavar="TOKEN", help="bearer token for the Chroma server")
    g.add_argument("--embedder", metavar="SPEC", help="e5-small-q4 (default) or st:<model>")
    g.add_argument(
        "--article",
        metavar="ID|PATH|all",
        help="article id or file, or `all` for every indexed article "
        "(default: the bundled article)",
    )
    g.add_argument(
        "--reranker",
        choices=["ce", "none"],
        help="ce: the cross-encoder rescores the best sentences (default); "
        "none: the first-stage ranker alone",
    )
    g.add_argument(
        "--ranker-file",
        metavar="FILE",
        help="a first-stage model written by train-ranker (default: the shipped one)",
    )
    g.add_argument(
        "--reranker-dir",
        metavar="DIR",
        help="a folder written by train-reranker (default: the shipped cross-encoder)",
    )
    g.add_argument("-v", "--verbose", action="store_true", help="more detail on stderr")
    g.add_argument("-q", "--quiet", action="store_true", help="no notices on stderr")
    if llm:
        g.add_argument("--llm", choices=["openai", "ollama"], help="write answers with an LLM")
        g.add_argument("--llm-base-url", metavar="URL", help="the LLM server's base URL")
        g.add_argument("--llm-model", metavar="NAME", help="the LLM's model name")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = _Parser(
        prog="articlebot",
        description=(
            "Ask questions of a news article; every answer quotes the article's own sentences."
        ),
    )
    parser.add_argument("--version", action="version", version=f"articlebot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("index", help="index article files, saved web pages, PDFs or links")
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH|URL",
        help=".txt, .md, .html, .pdf files or https:// links (default: bundled)",
    )
    p.add_argument("--rebuild", action="store_true", help="rebuild even when unchanged")
    _common(p)

    p = sub.add_parser("articles", help="list the indexed articles")
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON array: id, title, byline, published, site, source, ...",
    )
    _common(p)

    p = sub.add_parser("remove", help="remove an indexed article")
    p.add_argument("article_id", metavar="ID")
    _common(p)

    p = sub.add_parser("ask", help="answer one question")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the answer record as JSON")
    _common(p, llm=True)

    p = sub.add_parser("chat", help="a terminal chat")
    _common(p, llm=True)

    p = sub.add_parser("serve", help="the web chat")
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        help="required for a non-loopback host (env ARTICLEBOT_AUTH)",
    )
    _common(p, llm=True)

    p = sub.add_parser("train-ranker", help="train the ranker and abstainer on NorQuAD-style data")
    p.add_argument("file", metavar="FILE", help="Q&A items with context and answer spans")
    p.add_argument("--out", metavar="PATH", required=True, help="the model file to write")
    p.add_argument("--cache", metavar="DIR", help="cache embeddings here (reruns are fast)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split and negatives")
    p.add_argument(
        "--max-contexts",
        type=int,
        metavar="N",
        help="train on the questions of the first N passages only",
    )
    _signals(p, noise=0.5)
    p.add_argument(
        "--lexical-dropout",
        type=_share,
        default=0.3,
        metavar="SHARE",
        help="drop the word-overlap features from this share of the ranker's lists (default 0.3)",
    )
    p.add_argument(
        "--abstain-dropout",
        type=_share,
        default=0.5,
        metavar="SHARE",
        help="show the abstainer this share of its questions as if asked in other words "
        "(default 0.5)",
    )
    _common(p)

    p = sub.add_parser(
        "train-reranker",
        help="fine-tune the cross-encoder reranker and its span reader on NorQuAD-style data",
    )
    p.add_argument("file", metavar="FILE", help="Q&A items with context and answer spans")
    p.add_argument(
        "--out",
        metavar="DIR",
        required=True,
        help="where checkpoints, the log, the ONNX graphs and reranker.json go",
    )
    p.add_argument("--cache", metavar="DIR", help="cache embeddings here (reruns are fast)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, order and weights")
    p.add_argument(
        "--validation",
        metavar="FILE",
        help="Q&A items whose hit@1 is logged after each epoch (monitoring only)",
    )
    p.add_argument(
        "--recipe", metavar="JSON", help="training settings to override, e.g. '{\"epochs\": 1}'"
    )
    p.add_argument(
        "--init",
        metavar="DIR",
        help="start fine-tuning from the cross-encoder shipped in DIR (its reranker.onnx and "
        "reranker.json, e.g. bot/data) instead of e5's own weights",
    )
    _signals(p, noise=0.0)
    _common(p)

    p = sub.add_parser(
        "train-short-answer", help="fit the short answer's confidence model on NorQuAD-style data"
    )
    p.add_argument("file", metavar="FILE", help="Q&A items with context and answer spans")
    p.add_argument("--out", metavar="PATH", required=True, help="the model file to write")
    p.add_argument("--cache", metavar="DIR", help="cache embeddings here (reruns are fast)")
    _common(p)

    p = sub.add_parser(
        "train-route", help="fit the route step's weight for questions across articles"
    )
    p.add_argument("file", metavar="FILE", help="Q&A items with contexts (each an article)")
    p.add_argument("--out", metavar="PATH", required=True, help="the route file to write")
    _common(p)

    p = sub.add_parser("eval", help="evaluate on a file of Q&A pairs")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--out", metavar="DIR", required=True, help="where to write the results")
    p.add_argument(
        "--fail-under",
        metavar="METRIC=VALUE",
        action="append",
        default=[],
        help="exit 1 when METRIC falls short of VALUE: below it, or above it "
        "for false_abstention_rate and latency (repeatable)",
    )
    p.add_argument("--baseline", metavar="SUMMARY", help="a summary.json to compare against")
    p.add_argument(
        "--add-negatives",
        action="store_true",
        help="also ask each question against another context (unanswerable)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for negatives and bootstrap")
    p.add_argument(
        "--skip-invalid", action="store_true", help="skip malformed items instead of stopping"
    )
    p.add_argument(
        "--limit", type=int, help="evaluate only the first N items of the file (before negatives)"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="answer with N worker processes (1 to 32), each with its own engine (default 1)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the items DIR/items.jsonl already holds and answer the rest",
    )
    _common(p, llm=True)

    p = sub.add_parser("feedback", help="ratings saved by the web chat")
    fsub = p.add_subparsers(dest="feedback_command", metavar="ACTION", parser_class=_Parser)
    fsub.required = True
    fp = fsub.add_parser("export", help="turn saved ratings into a Q&A file for eval")
    fp.add_argument("--out", metavar="FILE", required=True, help="the Q&A JSONL file to write")
    _common(fp)

    p = sub.add_parser("bench", help="speed and memory, beside the LangChain tutorial default")
    from bot.eval.bench.run import add_arguments

    add_arguments(p)
    _common(p)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings: environment first, then the flags that were given."""
    overrides: dict[str, Any] = {}
    for flag, field in (
        ("store", "store"),
        ("chroma_url", "chroma_url"),
        ("chroma_token", "chroma_token"),
        ("embedder", "embedder"),
        ("article", "article"),
        ("llm", "llm"),
        ("llm_base_url", "llm_base_url"),
        ("llm_model", "llm_model"),
        ("host", "host"),
        ("port", "port"),
        ("auth", "auth"),
        ("reranker", "reranker"),
        ("ranker_file", "ranker_file"),
        ("reranker_dir", "reranker_dir"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[field] = value
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        flags = {field: "--" + field.replace("_", "-") for field in overrides}
        raise config_error(exc, flags) from None


DOCUMENT_LIBRARIES = ("trafilatura", "htmldate", "courlan", "justext", "pypdf")


def configure_logging(verbose: bool, quiet: bool) -> None:
    """stdlib logging, once, at the entry point: `-v` shows every stage's timings and
    decisions, `-q` only errors, and by default warnings; all of it on stderr."""
    import logging

    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.ERROR if quiet else logging.WARNING)
    # our own loggers follow -v/-q; libraries stay at warnings (their debug output is noise)
    for name in ("bot", "index"):
        logging.getLogger(name).setLevel(level)
    # the document readers log what they could not parse, which our own one-line error
    # says for the user; their lines are shown with -v only
    for name in DOCUMENT_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = bool(getattr(args, "quiet", False))
    verbose = bool(getattr(args, "verbose", False))
    configure_logging(verbose, quiet)

    def notice(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    try:
        settings = settings_from(args)
        command = _COMMANDS[args.command]
        return command(args, settings, notice)
    except ArticlebotError as exc:
        print(f"articlebot: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("articlebot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # whatever a user meets (disk full, permissions): one line
        if verbose:
            import traceback

            traceback.print_exc()
        print(f"articlebot: error: {printable(one_line(exc))}", file=sys.stderr)
        return EXIT_ERROR


def printable(text: str) -> str:
    """An error line safe for a terminal: control, format and line-separator characters
    (newlines, ESC sequences, bidi overrides) from a path or a value are written as escapes
    (`\\n`, `\\x1b`, `\\u202e`), so an error stays one line and cannot drive the terminal."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def one_line(exc: BaseException) -> str:
    """An unexpected failure in one line, for a person: what the OS said, or its type."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _engine(settings: Settings) -> Engine:
    from bot.engine import Engine

    return Engine(settings)


def cmd_index(args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]) -> int:
    """`articlebot index [PATH ...]`."""
    from bot.engine import bundled_article_path
    from index.fetch import is_link

    engine = _engine(settings)
    paths: list[Path | str] = [p if is_link(p) else Path(p) for p in args.paths]
    engine.index_files(paths or [bundled_article_path()], rebuild=args.rebuild, notice=notice)
    return EXIT_OK


def cmd_articles(
    args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]
) -> int:
    """`articlebot articles`: id, sentences, embedders, title, byline, date and source,
    tab-separated (`--json`: one JSON array)."""
    engine = _engine(settings)
    rows = engine.articles()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": a.id,
                        "title": a.title,
                        "byline": a.byline,
                        "published": a.published,
                        "site": a.site,
                        "source": a.source,
                        "sentences": a.sentences,
                        "embedders": list(a.embedders),
                    }
                    for a in rows
                ],
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    if not rows:
        notice(f"no articles indexed in {engine.describe_store()}")
    for a in rows:
        print(
            "\t".join(
                [
                    a.id,
                    str(a.sentences),
                    ",".join(a.embedders) or "-",
                    a.title,
                    a.byline or "-",
                    a.published or "-",
                    a.source,
                ]
            )
        )
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]) -> int:
    """`articlebot remove ID`."""
    engine = _engine(settings)
    engine.remove(args.article_id)
    notice(f"removed {args.article_id}")
    return EXIT_OK


def _print_events(events: Iterator[Event], as_json: bool) -> Answer | None:
    """Print one answer from its events: the text as it is written (a model's, token by
    token; the extractive answer at once), then its sources; if checking changed the text
    that streamed, the checked answer is printed whole after it."""
    from bot.events import Delta, Final
    from bot.ui.format import answer_text, tail_text

    shown, answer = "", None
    for event in events:
        if isinstance(event, Delta) and not as_json:
            shown += event.text
            print(event.text, end="", flush=True)
        elif isinstance(event, Final):
            answer = event.answer
            if as_json:
                print(json.dumps(answer.to_record(), ensure_ascii=False), flush=True)
            elif shown == answer.answer:
                print(tail_text(answer), flush=True)
            else:
                print("\n" if shown else "", flush=True)
                print(answer_text(answer), flush=True)
    return answer


def cmd_ask(args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]) -> int:
    """`articlebot ask QUESTION`."""
    from bot.question import clean_question

    question = clean_question(args.question, settings.max_question_chars)  # before any work
    engine = _engine(settings)
    article_id = engine.resolve_article(settings.article, notice=notice)
    _print_events(engine.events(question, article_id), args.json)
    return EXIT_OK


def cmd_chat(args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]) -> int:
    """`articlebot chat`: questions from stdin, answers to stdout; follow-ups ("Hvor jobber
    han?") use the questions asked before in this chat."""
    from bot.ui.conversation import Conversation
    from core.errors import QuestionError

    engine = _engine(settings)
    article_id = engine.resolve_article(settings.article, notice=notice)
    about = "every indexed article" if article_id == "all" else repr(article_id)
    notice(f"Ask about {about}; an empty line or Ctrl-D ends.")
    interactive = sys.stdin.isatty()
    conversation = Conversation()
    while True:
        try:
            line = input("> " if interactive else "")
        except EOFError:
            break
        if not line.strip():
            if interactive:
                break
            continue
        try:
            events = engine.events(line, article_id, query=conversation.query_for(line))
            answer = _print_events(events, as_json=False)
        except QuestionError as exc:
            print(str(exc), flush=True)
            continue
        conversation = conversation.then(line, answer)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]) -> int:
    """`articlebot serve`: the web chat."""
    from bot.ui.server import serve

    return serve(settings, notice)


def _share(text: str) -> float:
    """A share from 0 to 1 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be from 0 to 1")
    return value


def _signals(p: argparse.ArgumentParser, noise: float) -> None:
    """The training signals added beside the file's own questions."""
    p.add_argument(
        "--noise",
        type=_share,
        default=noise,
        metavar="SHARE",
        help="add a messy copy (lowercase, no æøå, typos, no question mark, key words only) "
        f"of this share of the questions (default {noise:g})",
    )
    p.add_argument(
        "--cross-lingual",
        metavar="DIR",
        help="a folder of XQuAD files (xquad.<lang>.json): add questions asked in one "
        "language of the paragraph in another",
    )
    p.add_argument(
        "--pairs-per-question",
        type=int,
        default=2,
        choices=range(1, 7),
        metavar="N",
        help="cross-lingual pairs drawn for each XQuAD question (1 to 6, default 2)",
    )
    p.add_argument(
        "--paraphrases",
        metavar="FILE",
        help="a JSONL file of the training file's questions reworded in a reader's own words "
        '({"id": ..., "question": ...} a line; data/norquad_paraphrases.jsonl for NorQuAD '
        "train)",
    )


@dataclass(frozen=True)
class _Added:
    """The added training questions and where they came from, as the trained model's
    provenance records it: the flags, and the sha256 of every data file read."""

    items: list[TrainingItem]
    sources: Mapping[str, object]


def _added_items(
    args: argparse.Namespace, items: Sequence[QAItem], file_items: Sequence[QAItem]
) -> _Added:
    """The messy copies, cross-lingual pairs and paraphrases the flags ask for, of `items`
    (the file's items, `file_items`, or the part of them kept for training)."""
    from bot.eval.qafile import read_qa_file
    from bot.training.crosslingual import cross_pairs
    from bot.training.noise import noisy_copies
    from bot.training.paraphrase import paraphrased, read_paraphrases

    sources: dict[str, object] = {
        "noise": args.noise,
        "cross_lingual": None,
        "pairs_per_question": args.pairs_per_question,
        "paraphrases": None,
    }
    added: list[TrainingItem] = list(noisy_copies(items, args.noise, args.seed))
    if args.cross_lingual:
        folder = Path(args.cross_lingual)
        files = sorted(folder.glob("xquad.*.json")) if folder.is_dir() else []
        if len(files) < 2:
            raise ConfigError(
                f"--cross-lingual {folder}: needs a folder with two or more XQuAD files "
                "(xquad.<lang>.json) of the same questions"
            )
        read = {f: read_qa_file(f) for f in files}
        by_language = {f.name.split(".")[1]: qa.items for f, qa in read.items()}
        added += cross_pairs(by_language, args.pairs_per_question, args.seed)
        sources["cross_lingual"] = folder.name
        sources["cross_lingual_sha256"] = {f.name: qa.sha256 for f, qa in read.items()}
    if args.paraphrases:
        path = Path(args.paraphrases)
        reworded = read_paraphrases(path)
        kept = {i.context for i in items}
        added += [p for p in paraphrased(file_items, reworded, args.file) if p.context in kept]
        sources["paraphrases"] = path.name
        sources["paraphrases_sha256"] = sha256_file(path)
    return _Added(added, sources)


def cmd_train_ranker(
    args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]
) -> int:
    """`articlebot train-ranker FILE --out PATH`."""
    from bot.eval.qafile import read_qa_file
    from bot.ui.feedback import check_export_path

    check_export_path(Path(args.out))  # a bad model path fails now, not after training
    qa = read_qa_file(Path(args.file))
    from bot.training.ranker import write_model
    from index.embedder import make_embedder

    items = qa.items
    if args.max_contexts is not None:
        keep = set(list(dict.fromkeys(i.context for i in items))[: args.max_contexts])
        items = [i for i in items if i.context in keep]
    provenance: dict[str, object] = {
        "train_file": Path(args.file).name,
        "train_sha256": qa.sha256,
        "max_contexts": args.max_contexts,
    }
    extra = _added_items(args, items, qa.items)  # a bad file fails before the models load
    provenance.update(extra.sources)
    write_model(
        items,
        provenance,
        Path(args.out),
        make_embedder(settings.embedder),
        Path(args.cache) if args.cache else None,
        args.seed,
        notice,
        extra=extra.items,
        lexical_dropout=args.lexical_dropout,
        abstain_dropout=args.abstain_dropout,
    )
    return EXIT_OK


def cmd_train_reranker(
    args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]
) -> int:
    """`articlebot train-reranker FILE --out DIR`: resumable; see
    `bot.training.reranker.pipeline`."""
    from bot.eval.qafile import read_qa_file
    from bot.language import detect_language
    from bot.ranking.model import load_model
    from bot.training.reranker.pipeline import TrainingRun, run
    from index.embedder import make_embedder

    recipe = _recipe(args.recipe, args.seed)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: not a directory")
    qa = read_qa_file(Path(args.file))
    validation = read_qa_file(Path(args.validation)).items if args.validation else None
    extra = _added_items(args, qa.items, qa.items)  # a bad file fails before the models load
    init = Path(args.init) if args.init else None
    if init is not None:
        from bot.training.reranker.warm_start import check_shipped

        check_shipped(init)
    run(
        TrainingRun(
            items=qa.items,
            train_name=Path(args.file).name,
            train_sha256=qa.sha256,
            validation=validation,
            out=out,
            cache=Path(args.cache) if args.cache else None,
            recipe=recipe,
            embedder=make_embedder(settings.embedder),
            ranker=load_model(settings.ranker_file),
            language_of=detect_language,
            extra=extra.items,
            init=init,
            extra_sources=extra.sources,
        ),
        notice,
    )
    return EXIT_OK


def cmd_train_short_answer(
    args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]
) -> int:
    """`articlebot train-short-answer FILE --out PATH`: see `bot.training.short_answer`."""
    from bot.eval.qafile import read_qa_file
    from bot.ui.feedback import check_export_path

    check_export_path(Path(args.out))  # a bad model path fails now, not after training
    qa = read_qa_file(Path(args.file))
    from bot.ranking.model import load_model
    from bot.training.short_answer import write_model
    from index.embedder import make_embedder

    provenance: dict[str, object] = {"train_file": Path(args.file).name, "train_sha256": qa.sha256}
    write_model(
        qa.items,
        provenance,
        Path(args.out),
        make_embedder(settings.embedder),
        Path(args.cache) if args.cache else None,
        load_model(),
        notice,
    )
    return EXIT_OK


def cmd_train_route(
    args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]
) -> int:
    """`articlebot train-route FILE --out PATH`: every context of FILE is indexed into the
    store, then the weight is fitted (`bot.training.route`)."""
    from bot.eval.qafile import read_qa_file
    from bot.ui.feedback import check_export_path

    check_export_path(Path(args.out))
    qa = read_qa_file(Path(args.file))
    from bot.training.route import write_route

    provenance: dict[str, object] = {"train_file": Path(args.file).name, "train_sha256": qa.sha256}
    write_route(qa.items, provenance, _engine(settings), Path(args.out), notice)
    return EXIT_OK


def _recipe(text: str | None, seed: int) -> TrainSettings:
    """The training recipe: the defaults, overridden by `--recipe`'s JSON object."""
    from bot.training.reranker.recipe import TrainSettings

    try:
        data = json.loads(text or "{}")
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return TrainSettings(**{"seed": seed, **data})
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--recipe: {exc}") from None


def cmd_eval(args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]) -> int:
    """`articlebot eval FILE --out DIR`."""
    from bot.eval.run import run_eval
    from bot.ui.conversation import query_for_messages

    return run_eval(args, settings, notice, follow_up=query_for_messages)


def cmd_feedback(
    args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]
) -> int:
    """`articlebot feedback export --out FILE`: ratings -> a Q&A file that eval reads."""
    from bot.ui import feedback

    feedback.check_export_path(Path(args.out))  # before any work
    records = feedback.load(settings.feedback_path)
    if args.article:
        records = [r for r in records if r.article == args.article]
    engine = _engine(settings)

    def article_text(article_id: str) -> str | None:
        try:
            return engine.article(article_id).text
        except ArticlebotError:
            return None

    written, skipped = feedback.export(records, article_text, Path(args.out))
    notice(
        (
            f"wrote {written} Q&A items to {args.out}"
            if written
            else f"no Q&A item to write: {args.out} left as it was"
        )
        + f" from {len(records)} ratings in "
        f"{settings.feedback_path}"
        + (
            f"; skipped {skipped} (a dislike without the right "
            "sentence, or an article no longer indexed)"
            if skipped
            else ""
        )
    )
    return EXIT_OK


def cmd_bench(args: argparse.Namespace, settings: Settings, notice: Callable[[str], None]) -> int:
    """`articlebot bench`: the table on stdout, or one JSON object with `--json`."""
    from bot.eval.bench.run import run_bench
    from bot.eval.bench.tables import render_table

    report = run_bench(args, settings, notice)
    print(json.dumps(report, ensure_ascii=False) if args.json else render_table(report))
    return EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings, Callable[[str], None]], int]] = {
    "index": cmd_index,
    "articles": cmd_articles,
    "remove": cmd_remove,
    "ask": cmd_ask,
    "chat": cmd_chat,
    "serve": cmd_serve,
    "eval": cmd_eval,
    "train-ranker": cmd_train_ranker,
    "train-reranker": cmd_train_reranker,
    "train-short-answer": cmd_train_short_answer,
    "train-route": cmd_train_route,
    "feedback": cmd_feedback,
    "bench": cmd_bench,
}

"""The reranker's fine-tuning recipe, checked when it is made (not after an hour of
training): every field lands in the shipped model's metadata."""

from __future__ import annotations

from dataclasses import dataclass

# The candidate counts the answer rule is fitted for; the shipped rule is the one for
# `rerank_k`.
CALIBRATION_KS = (3, 5, 8)


@dataclass(frozen=True)
class TrainSettings:
    """The fine-tuning recipe (all of it lands in the shipped model's metadata)."""

    k: int = 5  # own-passage candidates per list
    other_k: int = 2  # other-passage candidates per list
    epochs: int = 3
    questions_per_step: int = 4
    lr: float = 5e-5
    head_lr: float = 1e-3
    scalar_lr: float = 1e-2  # the null logit and the first stage's weight
    warmup_steps: int = 30
    weight_decay: float = 0.01
    negative_weight: float = 0.5  # weight of each null-target list
    freeze_layers: int = 6  # lowest transformer layers kept frozen
    max_len: int = 128
    max_question: int = 48
    seed: int = 0
    checkpoint_every: int = 50
    log_every: int = 50
    threads: int = 2
    max_questions: int | None = None  # for quick sanity runs
    max_steps: int | None = None  # stop early (sanity runs)
    val_questions: int = 100  # validation questions monitored after each epoch
    # the first stage's candidates the shipped answer rule rescores: on 2 cores the fp32
    # graph takes 59 ms for 3 and 97 ms for 5 (scripts/reranker_latency.py; held-out hit@1
    # 0.804 against 0.807), and the answer has a 100 ms budget
    rerank_k: int = 3
    calibration_questions: int = 10_000  # held-out questions the answer rule is fitted on (all)
    # fit and ship an answer rule of its own for questions the first stage ranks with its
    # cross-lingual variant (English, Swedish, ...); off: they keep the first stage's answer.
    # Its held-out figures are written either way.
    crosslingual_rule: bool = False
    # with `crosslingual_rule`, that rule also decides refusals; off, it ranks and cites, and
    # the first stage's cross-lingual abstainer keeps the refusal decision (measured in
    # docs/quality.md, "Questions in other languages and the cross-encoder")
    crosslingual_refuses: bool = True
    # with `crosslingual_rule`, the question languages it serves (ISO 639-1 codes, as
    # `bot/language.py` gives them); null: every language the cross-lingual variant ranks.
    # Questions in a language it does not serve keep the first stage's answer. Measured in
    # docs/quality.md ("Questions in other languages and the cross-encoder"): over a Norwegian
    # article it ranks Swedish questions better than the first stage, and English ones worse.
    crosslingual_languages: list[str] | None = None
    # fit the answer rules on the added questions' held-out part too (messy copies and
    # cross-lingual pairs, when the command adds them); off, the rules are fitted on the
    # file's own held-out questions, and the added ones train the cross-encoder only.
    # Measured in docs/quality.md ("The reranker's answer rule, calibrated on what?"): on,
    # with `rule_threshold_added`, the rule lets more questions about another document
    # through; on without it, it decides as the rule fitted without them does.
    rule_added: bool = False
    # with `rule_added`, the added questions also set the abstention threshold (the share of
    # held-out answerable questions refused); off, the model learns from them but the
    # threshold keeps the file's own held-out questions at the same false-abstention rate
    rule_threshold_added: bool = False
    # the answer rules also read the span reader's margin on the sentence they would cite
    # (how far its best answer span scores above "no answer in this sentence")
    rule_reader: bool = False
    # the answer rule's answerability model reads the first stage's evidence (its abstainer's
    # log-odds and its best score) beside the cross-encoder's; off, the cross-encoder's alone
    # (the first stage still weighs in the ranking). Measured in docs/quality.md ("The answer
    # rule without the first stage's evidence"): off, the rule answers the readers'
    # paraphrases, and also 31% of NorQuAD validation's questions about another document.
    rule_first_stage: bool = True
    # the answer rule's operating point: the share of held-out answerable questions (those
    # that set the threshold) it refuses
    rule_false_abstention: float = 0.025
    # fine-tune the span reader on the added questions of the fine-tuning passages too; off,
    # on the file's own. Measured in docs/quality.md ("Direct answers"): on, its spans are a
    # little better but its confidence no longer reaches 90% precision on 50 shown answers.
    reader_added: bool = False
    # the span reader (short answers): its head reads the cross-encoder's hidden rows after
    # `reader_tap` layers through `reader_layers` layers of its own (initialised from e5's
    # layers there), fine-tuned on each question's gold sentence and best wrong one. The
    # recipes compared (scripts/reader_recipes.py, docs/quality.md "Direct answers"): the
    # tap at 6, the frozen layers' output that e5's next layers were trained on, reads far
    # better than at 10, rows the cross-encoder's fine-tuned layers made for ranking; four
    # layers read better than two, even in int8, and in float16 (14 MB) they would take the
    # shipped weights past 30 MB
    reader_tap: int = 6
    reader_layers: int = 4
    reader_epochs: int = 3
    reader_batch: int = 32
    reader_lr: float = 2e-4
    reader_max_tokens: int = 30  # the longest short answer, in tokens
    # ship the head's weights as int8 (dynamic quantisation) rather than float16
    reader_int8: bool = True
    # the precision the shown short answers reach on the held-out passages
    reader_precision: float = 0.9

    def __post_init__(self) -> None:
        """Refuse a recipe that could not finish, before anything is loaded or trained."""
        if self.rerank_k not in CALIBRATION_KS:
            raise ValueError(f"rerank_k must be one of {', '.join(map(str, CALIBRATION_KS))}")
        positive = (
            "k",
            "epochs",
            "questions_per_step",
            "max_len",
            "max_question",
            "checkpoint_every",
            "log_every",
            "threads",
            "val_questions",
            "calibration_questions",
            "reader_tap",
            "reader_layers",
            "reader_epochs",
            "reader_batch",
            "reader_max_tokens",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("max_questions", "max_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or null)")
        if self.other_k < 0 or self.freeze_layers < 0 or self.warmup_steps < 0:
            raise ValueError("other_k, freeze_layers and warmup_steps must not be negative")
        if self.reader_tap + self.reader_layers > 12:
            raise ValueError("reader_tap + reader_layers must not pass e5's 12 layers")
        if not self.crosslingual_refuses and not self.crosslingual_rule:
            raise ValueError("crosslingual_refuses needs crosslingual_rule")
        if self.crosslingual_languages is not None:
            if not self.crosslingual_rule:
                raise ValueError("crosslingual_languages needs crosslingual_rule")
            if not self.crosslingual_languages or not all(
                isinstance(x, str) and x for x in self.crosslingual_languages
            ):
                raise ValueError("crosslingual_languages must list one or more language codes")
        if self.rule_threshold_added and not self.rule_added:
            raise ValueError("rule_threshold_added needs rule_added")
        for name in ("reader_precision", "rule_false_abstention"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie between 0 and 1")
        if self.max_question + 3 >= self.max_len:
            raise ValueError("max_len must leave room for the sentence after max_question")


# Creating this file in the output directory ends fine-tuning after the current step, as if
# max_steps had been set to that step; the model is then saved and exported as usual.
STOP_FILE = "STOP"
# the recipe fields that only the answer rules' fit reads, after fine-tuning: an interrupted
# fine-tuning run resumes whatever they say, since they do not change how the graph trains
RULE_FIELDS = frozenset(
    {
        "calibration_questions",
        "crosslingual_rule",
        "crosslingual_refuses",
        "crosslingual_languages",
        "rule_added",
        "rule_threshold_added",
        "rule_reader",
        "rule_first_stage",
        "rule_false_abstention",
    }
)

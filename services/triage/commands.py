"""`grievance classify` and `grievance eval`: the triage code path, from the command line."""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.models import TriageDecision, Urgency
from services.common.directory import Directory, load_yaml
from services.triage.assess import weigh, weigh_all
from services.triage.classify import Classifier, Ruleset
from services.triage.evaluation import Report, load_examples
from services.triage.routing import CaseFacts, RoutingPolicy, route
from services.triage.second_opinion import SecondOpinion


class ClassifyInput(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | int
    text: str = Field(min_length=1)
    language: str | None = None
    country_of_work: str | None = None
    country_of_origin: str | None = None
    sector: str | None = None
    employer: str | None = None
    recruiter: str | None = None
    urgency_hint: Urgency | None = None
    minor_involved: bool = False
    consent_share_contact: bool = False


def decision_json(item_id: str | int, d: TriageDecision) -> dict:
    return {"id": item_id, **d.model_dump(mode="json")}


@dataclass(frozen=True)
class Router:
    policy: RoutingPolicy
    directory: Directory

    def routes(self, item: ClassifyInput, d: TriageDecision) -> dict:
        facts = CaseFacts(d.urgency, tuple(d.categories), item.country_of_work, item.country_of_origin,
                          item.sector, d.language, item.employer, item.recruiter, item.consent_share_contact,
                          datetime.now(UTC))
        r = route(facts, self.directory, self.policy)
        return {"rule": r.rule, "routes": [x.model_dump(mode="json") for x in r.recipients],
                "excluded": [x.model_dump() for x in r.excluded]}


def classify_lines(classifier: Classifier, lines: Iterable[str], router: Router | None = None,
                   second_opinion: SecondOpinion | None = None) -> Iterator[dict]:
    """One output per input line, in order; a bad line gets an error object, not a crash. Scored one line at
    a time (a text's probability does not depend on its batch), so a stream is answered as it comes."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = ClassifyInput.model_validate_json(line)
        except ValidationError as exc:
            errors = [{"loc": ".".join(map(str, e["loc"])) or "line", "msg": e["msg"]} for e in exc.errors()]
            yield {"id": _id_of(line), "line": number, "error": "invalid input", "errors": errors}
            continue
        decision = classifier.classify(item.text, language=item.language, urgency_hint=item.urgency_hint,
                                       minor_involved=item.minor_involved)
        if second_opinion is not None:
            decision = weigh(decision, second_opinion.critical_probabilities([item.text])[0], second_opinion)
        out = decision_json(item.id, decision)
        yield {**out, **router.routes(item, decision)} if router else out


def _id_of(line: str):
    try:
        return json.loads(line).get("id")
    except (ValueError, AttributeError):
        return None


def run_classify(config_dir: Path, directory_file: Path | None = None, stdin: IO[str] = sys.stdin,
                 stdout: IO[str] = sys.stdout) -> int:
    classifier = Classifier(Ruleset.load(config_dir / "triage"))
    router = Router(RoutingPolicy.load(config_dir / "routing.yaml"),
                    Directory.model_validate(load_yaml(directory_file or config_dir / "partners.yaml")))
    for out in classify_lines(classifier, stdin, router, SecondOpinion.load(config_dir / "triage")):
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    return 0


def evaluate(classifier: Classifier, data: Path, use_language_labels: bool = False,
             second_opinion: SecondOpinion | None = None) -> Report:
    """Every example decided as the service decides it: the rules, then the second opinion if there is one."""
    report = Report()
    examples = load_examples(data)
    texts = [ex.text for ex in examples]
    decisions = [classifier.classify(ex.text, language=ex.language if use_language_labels else None)
                 for ex in examples]
    decisions = weigh_all(decisions, texts, second_opinion)
    for ex, d in zip(examples, decisions, strict=True):
        report.add(ex, d.urgency, d.categories, d.language, d.needs_review)
    if second_opinion is not None:
        for ex, p in zip(examples, second_opinion.critical_probabilities(texts), strict=True):
            report.add_opinion(ex, p >= second_opinion.critical_at)
    return report


def run_eval(config_dir: Path, data: Path, *, min_critical_recall: float, min_accuracy: float,
             as_json: bool, show_mistakes: bool, rules_only: bool = False,
             max_critical_unreviewed: int | None = None) -> int:
    model = None if rules_only else SecondOpinion.load_if_present(config_dir / "triage")
    classifier = Classifier(Ruleset.load(config_dir / "triage"))
    report = evaluate(classifier, data, second_opinion=model)
    # On a set the model learned from, its figures show how well it fits, not how well it reads new messages.
    learned = model is not None and data.resolve().name in model.meta.get("trained_on", {})
    if as_json:
        print(json.dumps({**report.figures(), "second_opinion": model.version if model else None,
                          "second_opinion_trained_on_this_set": learned}, indent=2))
    else:
        print(f"rules {classifier.rules.version} · second opinion "
              f"{model.version if model else 'off' if rules_only else 'none (no model in config/triage/model)'}"
              + (" · trained on this set: its figures here are not a measurement" if learned else ""))
        print(report.table())
    if show_mistakes:
        print("\nmistakes (labelled → predicted):")
        for ex, predicted, categories in report.mistakes:
            print(f"  {ex.id:<8} {ex.urgency.value:>8} → {predicted.value:<8} {categories}  {ex.text[:110]!r}")
    failures = []
    if max_critical_unreviewed is not None and report.critical_unreviewed > max_critical_unreviewed:
        failures.append(f"critical cases under-triaged without review {report.critical_unreviewed}"
                        f" > {max_critical_unreviewed}")
    if report.recall(Urgency.critical) < min_critical_recall:
        failures.append(f"critical recall {report.recall(Urgency.critical):.3f} < {min_critical_recall}")
    if report.accuracy < min_accuracy:
        failures.append(f"urgency accuracy {report.accuracy:.3f} < {min_accuracy}")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


SPEED_BATCH = 100  # texts the second opinion scores at once, as the service scores a polled batch


def run_speed(config_dir: Path, data: Path, repeat: int, rules_only: bool = False) -> dict:
    """texts/s on one core (this process pinned to one CPU), language detection and the second opinion
    included (scored per batch of SPEED_BATCH), over the set repeated `repeat` times. Each pass over the set
    is timed on its own; the best pass is the figure least disturbed by other work on the machine, the
    median shows the spread."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    classifier = Classifier(Ruleset.load(config_dir / "triage"))
    model = None if rules_only else SecondOpinion.load(config_dir / "triage")
    texts = [ex.text for ex in load_examples(data)]
    batches = [texts[i:i + SPEED_BATCH] for i in range(0, len(texts), SPEED_BATCH)]
    classifier.detector.warm_up()  # load the language model outside the timing
    gc.freeze()  # as the service does once its ruleset is loaded
    passes: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        for batch in batches:
            weigh_all([classifier.classify(t) for t in batch], batch, model)
        passes.append(time.perf_counter() - started)
    passes.sort()
    per_s = [len(texts) / p for p in passes]
    return {"texts": len(texts) * repeat, "texts_per_s": round(per_s[0], 1),
            "median_texts_per_s": round(per_s[len(per_s) // 2], 1),
            "mean_us": round(sum(passes) / (len(texts) * repeat) * 1e6, 1),
            "second_opinion": model.version if model else None}


def run_train_model(config_dir: Path, data_root: Path) -> int:
    """`grievance triage-model train`: refit on the training sets, write config/triage/model/, print its figures."""
    from services.triage.model_training import train  # scikit-learn: the dev extra

    params = train(data_root, config_dir / "triage")
    print(json.dumps(params, indent=2))
    return 0


def run_measure_model(config_dir: Path, data: Path) -> int:
    """`grievance triage-model measure --data <set>`: the model alone on a labelled set, critical vs not."""
    from services.triage.model_training import measure

    model = SecondOpinion.load(config_dir / "triage")
    examples = load_examples(data)
    at = {"critical_at": model.critical_at, "not_critical_below": model.not_critical_below,
          "raise_to_critical_at": model.raise_to_critical_at}
    figures = measure(model.critical_probabilities([ex.text for ex in examples]), examples, at)
    print(json.dumps({"model": model.version, "data": data.name, **figures}, indent=2))
    return 0

"""Classification: complaint text → urgency, categories, ILO indicators, each with its evidence.

Pure code. The policy (config/triage/policy.yaml) and the lexicons (config/triage/lexicons/) are data.
How a decision is reached:
1. the language is detected (script, else a language-identification model), only to report it and to
   know whether any lexicon covers it: every lexicon is matched at once, so code-mixing is read too;
2. every concept term is found in the folded text (case and Latin diacritics ignored);
3. a term preceded in its clause by a negation ("never hit me"), a hypothetical ("can my employer keep
   my passport?") or reported speech ("I read that…") does not count; a hypothetical turns into a
   request for information;
4. urgency is the highest of the concepts that count, raised by combinations and partner hints, never
   lowered by them; nothing recognised, or an uncovered language, means `high` and human review.
The safety net: danger said indirectly or in plain words ("I don't want to wake up tomorrow", "I can see
the bone", "they lock the gate") is in the lexicons as the critical concept it means; distress with no
named danger ("please save me") is `high` and reviewed; a language no lexicon covers is reviewed and
`high`, and `critical` when its safety-net words (config/triage/safety_net/) name a danger; a negation
reaches no further than its clause, a comma included.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from pathlib import Path

import yaml

from schemas.models import TriageDecision, Urgency
from services.triage.language import LanguageDetector
from services.triage.lexicon import FILLERS_FILE, MARKER, MARKERS_FILE, SAFETY_NET_DIR, Hit, Lexicon
from services.triage.text import ZawgyiTable, fold, looks_zawgyi, prepare, zawgyi_to_unicode

ZAWGYI_FILE = "zawgyi.yaml"
_START, _END = itemgetter(1), itemgetter(2)  # a Hit's fields, as sort keys that need no Python call
_QUESTION = re.compile(r"[?？؟]")
_CLAUSE_END = re.compile(r"[.!?;\n।॥။၊។៕؟،]")
# A negation reaches no further than its clause: "no one hits me, they lock the door" keeps the lock.
_COMMA = re.compile(r"[,，、]")


@dataclass(frozen=True)
class Concept:
    name: str
    category: str
    indicators: tuple[str, ...]
    urgency: Urgency
    says: str
    review: bool = False  # a person should read the text whatever the urgency (distress without a named danger)

    @cached_property
    def said(self) -> str:  # the end of a reason line, made once
        return f": {self.says} → {self.urgency.value}"


@dataclass(frozen=True)
class Combination:
    name: str
    all: frozenset[str]
    any: frozenset[str]
    min_matched: int
    urgency: Urgency
    says: str

    def fires(self, concepts: set[str]) -> bool:
        if not self.all <= concepts or (self.any and not self.any & concepts):
            return False
        return len(concepts & (self.all | self.any)) >= self.min_matched


@dataclass(frozen=True)
class Ruleset:
    version: str
    concepts: dict[str, Concept]
    combinations: tuple[Combination, ...]
    iris: dict[str, str]
    windows: dict[str, int]  # per cue kind, how far (in characters) it reaches
    no_evidence: Urgency
    uncovered: Urgency
    minor_at_least: Urgency
    minor_with_harm: Urgency
    lexicon: Lexicon
    zawgyi: ZawgyiTable | None = None  # Zawgyi-encoded Burmese → Unicode (zawgyi.yaml)
    jest_sets_aside: frozenset[str] = frozenset()  # concepts a laugh in their sentence sets aside (hyperbole)

    @classmethod
    def load(cls, directory: Path) -> Ruleset:
        policy = yaml.safe_load((directory / "policy.yaml").read_text(encoding="utf-8"))
        concepts = {
            name: Concept(name, spec["category"], tuple(spec.get("indicators", ())), Urgency(spec["urgency"]),
                          spec["says"], bool(spec.get("review", False)))
            for name, spec in policy["concepts"].items()
        }
        combinations = tuple(
            Combination(c["name"], frozenset(c.get("all", ())), frozenset(c.get("any", ())),
                        int(c.get("min_matched", 0)), Urgency(c["urgency"]), c["says"])
            for c in policy.get("combinations", ())
        )
        for combo in combinations:
            unknown = (combo.all | combo.any) - set(concepts)
            if unknown:
                raise ValueError(f"combination {combo.name} names unknown concepts {sorted(unknown)}")
        return cls(
            version=policy["ruleset"], concepts=concepts, combinations=combinations, iris=policy.get("iris", {}),
            windows=_windows(policy["scope"]),
            no_evidence=Urgency(policy["no_evidence"]["urgency"]),
            uncovered=Urgency(policy["uncovered_language"]["urgency"]),
            minor_at_least=Urgency(policy["minor_involved"]["at_least"]),
            minor_with_harm=Urgency(policy["minor_involved"]["with_harm"]),
            lexicon=Lexicon.load(directory / "lexicons", set(concepts), markers=directory / MARKERS_FILE,
                                 fillers=directory / FILLERS_FILE, safety_net=directory / SAFETY_NET_DIR),
            zawgyi=ZawgyiTable.from_data(yaml.safe_load((directory / ZAWGYI_FILE).read_text(encoding="utf-8")))
            if (directory / ZAWGYI_FILE).exists() else None,
            jest_sets_aside=_known(frozenset(policy["scope"].get("jest_sets_aside", ())), concepts, "jest_sets_aside"),
        )

    @cached_property
    def order(self) -> dict[str, tuple[int, str]]:
        """Per concept, its place in a decision: most urgent first, then by name. Made once per ruleset."""
        return {name: (-c.urgency.rank, name) for name, c in self.concepts.items()}


def _windows(scope: dict) -> dict[str, int]:
    negation = int(scope["cue_window_chars"])
    framing = int(scope.get("framing_window_chars", negation))
    return {"negation": negation, "hypothetical": framing, "reported": framing,
            "negation_after": int(scope.get("after_window_chars", 12)),
            "jest": int(scope.get("jest_window_chars", 80)), "over": int(scope.get("over_window_chars", 100))}


def _known(names: frozenset[str], concepts: dict[str, Concept], where: str) -> frozenset[str]:
    if unknown := names - set(concepts):
        raise ValueError(f"scope.{where} names unknown concepts {sorted(unknown)}")
    return names



class Classifier:
    def __init__(self, rules: Ruleset, detector: LanguageDetector | None = None):
        self.rules = rules
        self.detector = detector or LanguageDetector()

    def classify(self, text: str, *, language: str | None = None, urgency_hint: Urgency | None = None,
                 minor_involved: bool = False) -> TriageDecision:
        rules = self.rules
        given = text
        # Matched on the NFC form without invisible characters and with emphatic letter runs cut short
        # (text.prepare); evidence offsets are the text's as given (intake sends NFC, a CLI user may not).
        zawgyi = rules.zawgyi is not None and looks_zawgyi(given) and self.detector.is_zawgyi(given)
        if zawgyi:  # read in Unicode; offsets go back through the conversion
            unicode, z_starts, z_ends = zawgyi_to_unicode(given, rules.zawgyi)
            text, starts, ends, emphatic = prepare(unicode)
            starts = z_starts if starts is None else [z_starts[i] for i in starts]
            ends = z_ends if ends is None else [z_ends[i] for i in ends]
        else:
            text, starts, ends, emphatic = prepare(given)

        def span(h: Hit) -> tuple[int, int]:
            return (h.start, h.end) if starts is None or ends is None else (starts[h.start], ends[h.end])

        folded = fold(text)
        hits = rules.lexicon.find(folded, emphatic)
        votes: dict[str, int] = {}
        markers: dict[str, int] = {}
        concept_hits: list[Hit] = []
        cues: list[Hit] = []
        for h in hits:
            if not h.term.is_cue:
                concept_hits.append(h)
                votes[h.term.language] = votes.get(h.term.language, 0) + 1
            else:
                cues.append(h)
                if h.term.kind == MARKER:
                    markers[h.term.language] = markers.get(h.term.language, 0) + 1
        detected = self.detector.detect(text, hint=language, votes=votes, markers=markers)
        lang = detected.language
        covered = lang in rules.lexicon.languages
        reasons = [f"language {lang} ({detected.method})" + ("" if covered else ": no lexicon covers it")]
        if zawgyi:
            reasons.append("typed in the Zawgyi encoding: read as Unicode")

        # The longest reading first: a term inside a longer one carries nothing, whether the longer one counts
        # or is set aside ("هيموتني 😅", he'll kill me, laughing, is not the "يموت", dying, inside it).
        if len(concept_hits) > 1:
            concept_hits = _outermost(concept_hits)
        counted, set_aside = self._scope(folded, concept_hits, cues, reasons)
        active = {h.term.kind for h in counted}
        # A question about something the writer did not say happened to them is a request for information.
        hypothetical = any(kind == "hypothetical" or (kind == "reported" and _QUESTION.search(text))
                           for _, kind in set_aside)
        if hypothetical and "information_request" in rules.concepts:
            active.add("information_request")

        needs_review = False
        # Sorted, not set order: the same text must give the same decision in every process.
        ordered = sorted(active, key=rules.order.__getitem__)
        urgency = rules.concepts[ordered[0]].urgency if ordered else Urgency.low  # the highest
        for h in counted:
            start, end = span(h)
            reasons.append(f"'{given[start:end]}' at {start}–{end}{rules.concepts[h.term.kind].said}")
        if hypothetical:
            reasons.append("asked as a question or hypothesis: a request for information → low")
        indicators = {i: None for name in ordered for i in rules.concepts[name].indicators}
        for combo in rules.combinations:
            if combo.fires(active) and combo.urgency.rank > urgency.rank:
                urgency = combo.urgency
                reasons.append(f"combination {combo.name}: {combo.says} → {urgency.value}")
        distress = [n for n in ordered if rules.concepts[n].review]
        if distress:
            needs_review = True
            reasons.append(f"{rules.concepts[distress[0]].says}: human review")
        if not active:
            needs_review = True
            urgency = rules.no_evidence
            reasons.append(f"nothing recognised: human review, {urgency.value} until then")
        if not covered:
            needs_review = True
            if urgency.rank < rules.uncovered.rank:
                urgency = rules.uncovered
                reasons.append(f"language not covered by the rules: human review, at least {urgency.value}")
        if any(rules.concepts[h.term.kind].urgency == Urgency.critical for h, _ in set_aside):
            needs_review = True
            reasons.append("a critical signal was set aside as negated, hypothetical, reported or said laughing: "
                           "review")
        if urgency_hint is not None and urgency_hint.rank > urgency.rank:
            reasons.append(f"partner's urgency hint raises {urgency.value} → {urgency_hint.value}")
            urgency = urgency_hint
        if minor_involved:
            harm = any(rules.concepts[n].urgency.rank >= Urgency.high.rank for n in active)
            floor = rules.minor_with_harm if harm else rules.minor_at_least
            if floor.rank > urgency.rank:
                reasons.append(f"a minor is involved{' and harmed' if harm else ''}: {urgency.value} → {floor.value}")
                urgency = floor

        categories = list(dict.fromkeys(rules.concepts[n].category for n in ordered)) or ["other"]
        iris = list(dict.fromkeys(rules.iris[c] for c in categories if c in rules.iris))
        # Evidence as plain dicts, validated with the decision in one call: cheaper than building each
        # Evidence model first (pydantic-core validates faster than model_construct builds, here).
        evidence = [{"term": given[start:end], "start": start, "end": end, "concept": h.term.kind}
                    for h in sorted(counted, key=lambda h: (h.start, h.end, h.term.kind)) for start, end in [span(h)]]
        says = ", ".join(rules.concepts[n].says for n in ordered[:4]) or "nothing recognised"
        summary = f"{urgency.value}: {says}" + (f" (ILO: {', '.join(indicators)})" if indicators else "")
        return TriageDecision(
            urgency=urgency, categories=categories, indicators=list(indicators), iris_principles=iris, language=lang,
            needs_review=needs_review, reasons=reasons, evidence=evidence, ruleset=rules.version, summary=summary)

    def _scope(self, folded: str, concepts: list[Hit], cues: list[Hit],
               reasons: list[str]) -> tuple[list[Hit], list[tuple[Hit, str]]]:
        """Split concept hits into those that count and those a cue sets aside:
        - negation: a cue starting before the term, within the cue window, same clause;
        - hypothetical, reported: the same, within the longer framing window ("I read that in Kuwait many
          maids are locked in": the framing covers the clause);
        - negation_after: a cue right after the term, same clause (Bengali "মারে না", Khmer "… ទេ");
        - resolved: a cue anywhere in the same clause ("I got my passport back", "the case of my niece who
          was locked in is closed");
        - jest: a laugh before or after the term, within its window, same sentence, for the concepts hyperbole
          uses ("he'll kill me if I'm late haha"): the sentence's punctuation bounds it, not "and" or a comma;
        - over: a past matter said to be over ("that is over now", "he stopped"), after the term in its
          sentence or before it in its clause."""
        # A cue inside a concept term is part of its meaning ("not paid"), not a cue.
        scoping = [c for c in cues if c.term.kind not in ("boundary", MARKER)
                   and not any(h.start <= c.start and c.end <= h.end for h in concepts)]
        if not scoping:  # most texts: nothing to set aside, and no clause to find
            return concepts, []
        clause_ends = sorted([m.start() for m in _CLAUSE_END.finditer(folded)]
                             + [c.start for c in cues if c.term.kind == "boundary"])
        commas = [m.start() for m in _COMMA.finditer(folded)] if "," in folded or not folded.isascii() else []
        negation_ends = sorted(clause_ends + commas) if commas else clause_ends
        sentence_ends = [m.start() for m in _CLAUSE_END.finditer(folded)] \
            if any(c.term.kind in ("jest", "over") for c in scoping) else []
        jesting = self.rules.jest_sets_aside
        counted, set_aside = [], []
        for h in concepts:
            # A settled matter is feedback, a past danger too ("my sister who was locked in is home now"): a
            # critical term so set aside still has a person read the text. Thanks are never set aside.
            settles = self.rules.concepts[h.term.kind].urgency != Urgency.low
            ends = (clause_ends, negation_ends, sentence_ends)
            cue = next((c for c in scoping
                        if _applies(c, h, self.rules.windows, settles, h.term.kind in jesting, *ends)), None)
            if cue is None:
                counted.append(h)
                continue
            kind = "negation" if cue.term.kind == "negation_after" else cue.term.kind
            set_aside.append((h, kind))
            where = "after it" if cue.start >= h.end else "before it" if cue.end <= h.start else "around it"
            reasons.append(f"'{folded[h.start:h.end]}' not counted: {kind} ('{folded[cue.start:cue.end]}' {where})")
        return counted, set_aside


def _applies(cue: Hit, h: Hit, windows: dict[str, int], settles: bool, jests: bool, clause_ends: list[int],
             negation_ends: list[int], sentence_ends: list[int]) -> bool:
    kind = cue.term.kind
    if kind == "jest":
        lo, hi = min(cue.end, h.end), max(cue.start, h.start)
        return jests and hi - lo <= windows[kind] and not _crosses(sentence_ends, lo, hi)
    if kind == "over":  # back across "but" within the sentence ("he hit me once, but that is over"); forward
        if not settles:  # only within the clause ("the beating is over", not "that stopped, now he locks me in")
            return False
        if cue.start >= h.end:
            return cue.start - h.end <= windows[kind] and not _crosses(sentence_ends, h.end, cue.start)
        return cue.end <= h.start and h.start - cue.end <= windows[kind] and not _crosses(clause_ends, cue.end, h.start)
    if kind == "negation_after":
        return (cue.start >= h.end - 1 and cue.start - h.end <= windows[kind]
                and not _crosses(negation_ends, h.end, cue.start))
    if kind == "negation":
        clause_ends = negation_ends
    if kind == "resolved":  # in the same clause: "salary received, but passport still held" stays high
        lo, hi = min(cue.end, h.end), max(cue.start, h.start)
        return settles and not _crosses(clause_ends, lo, hi)
    # A cue may run into the term it scopes ("no me" + "me pegan"), but must start before it.
    gap_from = min(cue.end, h.start)
    return cue.start < h.start and h.start - cue.end <= windows[kind] and not _crosses(clause_ends, gap_from, h.start)


def _crosses(boundaries: list[int], start: int, end: int) -> bool:
    i = bisect_left(boundaries, start)
    return i < len(boundaries) and boundaries[i] < end


def _outermost(hits: list[Hit]) -> list[Hit]:
    """Drop a hit that lies inside a longer hit: the longer term is the more specific reading ("passport"
    in "took my passport"; "never paid" in "overtime is never paid", which is unpaid overtime)."""
    kept: list[Hit] = []
    spans: set[tuple[int, int]] = set()
    concepts: set[tuple[int, int, str]] = set()
    reach = -1  # the furthest end of a kept hit
    # By start, longest first at each start: two stable sorts on C-level keys, no tuple made per hit.
    for h in sorted(sorted(hits, key=_END, reverse=True), key=_START):
        inside = reach > h.end or (reach == h.end and (h.start, h.end) not in spans)
        if inside or (h.start, h.end, h.term.kind) in concepts:
            continue  # the same span may carry two concepts; a span inside a longer one carries none
        kept.append(h)
        spans.add((h.start, h.end))
        concepts.add((h.start, h.end, h.term.kind))
        reach = max(reach, h.end)
    return kept


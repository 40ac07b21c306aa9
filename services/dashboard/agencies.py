"""IRIS status of the employers and recruiters the Patterns view lists, from the partner directory as it is
published (config/partners.yaml, the file `grievance directory load` loads): recruitment agencies carry
`iris_certified`, and a name in a complaint is matched to an agency by the name key triage links cases with
(services/common/names.py), over the agency's name and the names it acts for. The dashboard never reads
triage's tables."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from services.common.directory import Directory, load_yaml
from services.common.names import entity_key


@dataclass(frozen=True)
class Agency:
    partner_id: str
    name: str
    iris_certified: bool


def by_key(directory: Directory) -> dict[str, Agency]:
    """Name key → the recruitment agency it names (pure)."""
    return {key: Agency(p.id, p.name, p.iris_certified) for p in directory.partners
            if p.kind == "recruitment_agency" for key in p.entity_keys()}


def status(agencies: dict[str, Agency], name: str | None, key: str | None = None) -> Agency | None:
    """The agency a listed name is, by its stored key or, for rows projected before keys, its name's key."""
    found = key or entity_key(name)
    return agencies.get(found) if found else None


class PublishedDirectory:
    """The directory file, read again when it changes (an operator publishing a new one needs no restart)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._agencies: dict[str, Agency] = {}

    def agencies(self) -> dict[str, Agency]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._agencies = by_key(Directory.model_validate(load_yaml(self.path)))
                self._stamp = stamp
            return self._agencies

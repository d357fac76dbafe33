"""Which firing alerts inhibit which: an index kept as alerts fire and resolve.

For each inhibit rule, firing alerts matching its ``source_matchers`` are filed
under the values of its ``equal`` labels; a target is inhibited when that file
holds a source other than itself. Checking a new alert costs one dictionary
lookup per inhibit rule whose targets it matches.
"""

from __future__ import annotations

from alertflow.models import Alert
from alertflow.rules.matchers import match_all
from alertflow.rules.suppression import InhibitRule

Placement = tuple[int, tuple[str, ...], bool]


class Sources:
    def __init__(self, rules: list[InhibitRule]) -> None:
        self.rules = rules
        # per rule: equal-label values -> source fingerprints (a dict as an ordered set: the oldest
        # source is named, the same in every process) -> whether that source also matches the targets
        self._files: list[dict[tuple[str, ...], dict[str, bool]]] = [{} for _ in rules]

    def placements(self, alert: Alert) -> list[Placement]:
        """Where a firing alert is filed: (inhibit rule, equal-label values, also matches targets) per rule it is a source for."""
        return [
            (i, rule.equal_values(alert.labels), match_all(rule.target_matchers, alert.labels))
            for i, rule in enumerate(self.rules)
            if match_all(rule.source_matchers, alert.labels)
        ]

    def add(self, alert: Alert) -> list[Placement]:
        """File a firing alert under every inhibit rule it is a source for; returns where (kept to remove or restore it)."""
        if not self.rules:
            return []
        placed = self.placements(alert)
        self.restore(alert.fingerprint, placed)
        return placed

    def restore(self, fingerprint: str, placed: list[Placement]) -> None:
        for index, values, two_sided in placed:
            if index < len(self._files):
                self._files[index].setdefault(values, {})[fingerprint] = two_sided

    def remove(self, fingerprint: str, placed: list[Placement]) -> None:
        for index, values, _ in placed:
            sources = self._files[index].get(values) if index < len(self._files) else None
            if sources is not None:
                sources.pop(fingerprint, None)
                if not sources:
                    del self._files[index][values]

    def inhibitor(self, alert: Alert) -> str | None:
        """The fingerprint of a firing source that inhibits ``alert``, if any.

        As in Alertmanager: when the target matches the source side too, sources that also
        match the target side are ignored, so two such alerts never inhibit each other.
        """
        for index, rule in enumerate(self.rules):
            if not self._files[index] or not match_all(rule.target_matchers, alert.labels):
                continue
            two_sided = match_all(rule.source_matchers, alert.labels)
            for source, source_two_sided in self._files[index].get(rule.equal_values(alert.labels), {}).items():
                if source != alert.fingerprint and not (two_sided and source_two_sided):
                    return source
        return None

"""Triage's SLA deadlines: the policy in config/sla.yaml, shared with the notifier's clocks
(services/common/sla.py)."""

from services.common.sla import Duration, SlaPolicy, parse_duration

__all__ = ["Duration", "SlaPolicy", "parse_duration"]

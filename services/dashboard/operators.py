"""Who may use the dashboard: config/operators.yaml, one entry per person with a role and a scrypt hash
(`grievance dashboard hash-password` makes one). Roles are ordered: a viewer sees, an operator also
acknowledges alerts and requeues dead letters, an admin also reads the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.directory import load_yaml
from services.dashboard import passwords

ROLES = ("viewer", "operator", "admin")


@dataclass(frozen=True)
class Operator:
    id: str
    role: str
    password_scrypt: str


def load(config_dir: Path) -> dict[str, Operator]:
    path = config_dir / "operators.yaml"
    if not path.exists():
        return {}
    found = {}
    for entry in load_yaml(path).get("operators") or []:
        op = Operator(str(entry["id"]), str(entry["role"]), str(entry["password_scrypt"]))
        if op.role not in ROLES:
            raise ValueError(f"operators.yaml: {op.id}: role must be one of {', '.join(ROLES)}")
        found[op.id] = op
    return found


def authenticate(users: dict[str, Operator], user_id: str, password: str) -> Operator | None:
    op = users.get(user_id)
    ok = passwords.verify(password, op.password_scrypt if op else passwords.DUMMY)
    return op if ok and op is not None else None


def allows(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)

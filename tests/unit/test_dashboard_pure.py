"""The dashboard's pure parts: filters from hostile query strings, password hashes, the message catalogue,
the language choice, the operators file."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.dashboard import catalogue, operators, passwords
from services.dashboard.filters import Filters


def test_filters_keep_only_what_they_can_parse():
    f = Filters.parse({"range": "24h", "urgency": "critical", "country": "my", "partner": "ngo-np",
                       "category": "forced_labour"})
    assert f == Filters("24h", "critical", "MY", "ngo-np", "forced_labour")
    hostile = Filters.parse({"range": "1000y", "urgency": "urgent' OR 1=1 --", "country": "MYS",
                             "partner": "<script>", "category": "a" * 200})
    assert hostile == Filters()
    assert Filters.parse({"country": "m1"}).country is None


def test_filters_round_trip_through_the_url_leaving_defaults_out():
    f = Filters("24h", "high", None, "ngo-np", None)
    assert f.query() == "range=24h&urgency=high&partner=ngo-np"
    assert Filters.parse(dict(pair.split("=") for pair in f.query().split("&"))) == f
    assert Filters().query() == "" and f.query(urgency=None) == "range=24h&partner=ngo-np"


def test_passwords_verify_only_the_right_one_and_refuse_malformed_hashes():
    stored = passwords.hash_password("correct horse battery")
    assert passwords.verify("correct horse battery", stored)
    assert not passwords.verify("correct horse batterY", stored)
    assert stored != passwords.hash_password("correct horse battery")  # salted
    for bad in ("", "plain", "scrypt$1$2$3$x$y", stored.replace("scrypt", "md5"), "scrypt$99999999$8$1$AA==$AA=="):
        assert not passwords.verify("correct horse battery", bad)


def test_demo_operators_sign_in_with_their_documented_passwords():
    users = operators.load(Path(__file__).resolve().parents[2] / "config")
    assert {u.role for u in users.values()} == set(operators.ROLES)
    assert operators.authenticate(users, "demo-operator", "demo-operator-password").role == "operator"
    assert operators.authenticate(users, "demo-operator", "demo-admin-password") is None
    assert operators.authenticate(users, "nobody", "demo-operator-password") is None


def test_roles_are_ordered():
    assert operators.allows("admin", "operator") and operators.allows("operator", "operator")
    assert not operators.allows("viewer", "operator") and not operators.allows("root", "viewer")


def test_a_bad_role_in_the_operators_file_is_refused(tmp_path):
    (tmp_path / "operators.yaml").write_text("operators:\n  - {id: x, role: root, password_scrypt: y}\n")
    with pytest.raises(ValueError, match="role"):
        operators.load(tmp_path)


def test_both_languages_have_every_message_and_the_choice_falls_back_to_english():
    assert set(catalogue.MESSAGES["en"]) == set(catalogue.MESSAGES["fr"])
    assert catalogue.translator("fr")("now") == "Maintenant" and catalogue.translator("de")("now") == "Now"
    assert catalogue.translator("fr")("no-such-key") == "no-such-key"
    assert catalogue.choose(None, "de-DE,fr;q=0.8,en;q=0.5") == "fr"
    assert catalogue.choose("en", "fr") == "en" and catalogue.choose("xx", None) == "en"

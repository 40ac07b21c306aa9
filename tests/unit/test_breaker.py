from services.notifier.breaker import Breakers


def breakers(**kw) -> Breakers:
    return Breakers(**{"failures": 3, "cooldown_s": 10.0, "max_cooldown_s": 40.0, "per_partner": 2, **kw})


def test_concurrency_limit_per_partner():
    b = breakers()
    assert b.room("a", 0) == 2
    b.started("a")
    b.started("a")
    assert b.room("a", 0) == 0 and b.room("b", 0) == 2 and b.blocked(0) == ["a"]
    b.finished("a", True, 1)
    assert b.room("a", 1) == 1 and b.blocked(1) == []


def test_opens_after_consecutive_failures_and_a_success_resets_the_count():
    b = breakers()
    for ok in (False, False, True, False, False):
        b.started("a")
        assert b.finished("a", ok, 0) in (None, "closed") or ok
    assert b.circuit("a").state == "closed"
    b.started("a")
    assert b.finished("a", False, 0) == "opened"
    assert b.room("a", 5) == 0 and "a" in b.blocked(5) and b.room("b", 5) == 2  # others unaffected


def test_half_open_probe_after_cooldown_closes_or_reopens_with_a_longer_cooldown():
    b = breakers()
    for _ in range(3):
        b.started("a")
        b.finished("a", False, 0)
    assert b.room("a", 9.9) == 0
    assert b.room("a", 10) == 1  # one probe
    b.started("a")
    assert b.room("a", 10) == 0  # and only one
    assert b.finished("a", False, 11) == "opened"
    assert b.circuit("a").cooldown_s == 20
    assert b.room("a", 30) == 0 and b.room("a", 31) == 1
    b.started("a")
    b.finished("a", False, 31)
    b.room("a", 72)
    b.started("a")
    b.finished("a", False, 72)
    assert b.circuit("a").cooldown_s == 40  # capped
    assert b.room("a", 112) == 1
    b.started("a")
    assert b.finished("a", True, 112) == "closed"
    assert b.room("a", 112) == 2 and b.circuit("a").failures == 0


def test_late_failures_while_open_do_not_extend_it_and_a_deferred_probe_frees_its_slot():
    b = breakers()
    for _ in range(5):
        b.started("a")
    for _ in range(3):
        b.finished("a", False, 0)
    assert b.circuit("a").state == "open"
    b.finished("a", False, 1)
    b.finished("a", False, 2)
    assert b.circuit("a").opened_at == 0 and b.circuit("a").cooldown_s == 10
    assert b.room("a", 10) == 1
    b.started("a")
    b.released("a")  # the probe never reached the partner (intake deferred it)
    assert b.room("a", 10) == 1

"""`pktcable simulate`'s progress on stderr, against a fake clock."""

from __future__ import annotations

from pktcable.simulate.progress import Progress


def test_lines_every_interval_off_a_terminal_then_one_at_the_end() -> None:
    now = [100.0]
    out: list[str] = []
    p = Progress(10_000, out.append, lambda: now[0], terminal=False, interval=5.0)
    for n in range(4_200):
        now[0] = 100.0 + (n + 1) * 5.0 / 4_200  # 4,200 devices in 5 s
        p.device(passed=n % 84 != 0)  # 50 fail
    assert out == ["simulate: 4,200/10,000 done, 4,150 passed, 50 failed, 840/s, ETA 7 s\n"]
    now[0] += 4.0
    p.tick()  # nothing finished, and less than 5 s since the last line
    assert len(out) == 1
    now[0] += 1.0
    p.tick()  # a stall shows: the rate drops, the time left grows
    assert out[-1] == "simulate: 4,200/10,000 done, 4,150 passed, 50 failed, 420/s, ETA 14 s\n"
    for _ in range(5_800):
        p.device(passed=True)
    assert out[-1] == "simulate: 10,000/10,000 done, 9,950 passed, 50 failed, 1,000/s, ETA 0 s\n" and len(out) == 3


def test_a_terminal_gets_one_bar_redrawn_in_place() -> None:
    now = [0.0]
    out: list[str] = []
    p = Progress(4, out.append, lambda: now[0], terminal=True)
    for passed in (True, False, True):
        now[0] += 0.5
        p.device(passed)
    assert out[-1] == "\r[##############################          ] 3/4 2 passed 1 failed 2.0/s ETA 0 s "
    now[0] += 100.0
    p.device(True)
    assert out[-2].startswith("\r[" + "#" * 40 + "] 4/4 3 passed 1 failed") and out[-1] == "\n"
    assert all(line.startswith("\r") for line in out[:-1])


def test_long_runs_tell_minutes_and_hours() -> None:
    now = [0.0]
    out: list[str] = []
    p = Progress(1_000_000, out.append, lambda: now[0], terminal=False)
    now[0] = 10.0
    p.device(True)
    assert out[-1].endswith(" 0.1/s, ETA 2,777 h 46 min\n")  # 999,999 devices at 0.1/s
    q = Progress(1_000, out.append, lambda: now[0], terminal=False)
    for _ in range(100):
        q.device(True)
    now[0] += 10.0
    q.tick()
    assert out[-1] == "simulate: 100/1,000 done, 100 passed, 0 failed, 10/s, ETA 1 min 30 s\n"

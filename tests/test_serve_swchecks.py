"""serve asks a modem still behind the image its file offered why (pktcable.serve.swchecks):
only after a served file that made an offer, not when the modem reported the version, again
while a download is under way (bounded), never more checks waiting than the bound."""

from __future__ import annotations

import asyncio

import pytest

from pktcable.firmware.swcheck import Check
from pktcable.firmware.swmib import SwOper, sw_oids
from pktcable.serve import swchecks
from pktcable.serve.swchecks import MAX_ASKS, Offer, SwChecks
from pktcable.snmp import message as m
from pktcable.store.devices import Step

SW = sw_oids()
T = m.ber.SNMP_TYPE_BY_KEYWORD
MAC = "00aa00000001"
AFTER = 0.02


def answer(oper: SwOper, version: str = "1.0.0") -> m.Pdu:
    return m.Pdu(m.PduType.RESPONSE, 1, (m.VarBind(SW.oper, T["integer"], int(oper)),
                                         m.VarBind(SW.current, T["string"], version.encode())))


class Plant:
    def __init__(self, answers: list[m.Pdu | None], reported: str | None = "1.0.0",
                 leased: str | None = "10.1.0.7") -> None:
        self.answers, self.reported, self.leased = answers, reported, leased
        self.offers: dict[str, Offer] = {}
        self.asked: list[str] = []
        self.steps: list[Step] = []
        self.commits = 0

    def checks(self) -> SwChecks:
        return SwChecks(AFTER, take_offer=lambda mac: self.offers.pop(mac, None), reported=lambda mac: self.reported,
                        leased=lambda mac: self.leased, ask=self.ask, record=self.steps.append,
                        commit=self.commit, clock=lambda: 1000.0)

    async def ask(self, address: str) -> m.Pdu:
        self.asked.append(address)
        got = self.answers.pop(0) if self.answers else None
        if got is None:
            raise TimeoutError
        return got

    def commit(self) -> None:
        self.commits += 1


async def settle(checks: SwChecks, rounds: int = 1) -> None:
    for _ in range(rounds):
        await asyncio.sleep(AFTER * 5)
    await checks.close()


def test_a_file_without_an_offer_asks_nothing() -> None:
    plant = Plant([answer(SwOper.FAILED)])

    async def main() -> None:
        checks = plant.checks()
        checks.file_served(MAC)
        await settle(checks)

    asyncio.run(main())
    assert plant.asked == [] and plant.steps == []


def test_a_modem_that_reported_the_offered_version_is_not_asked() -> None:
    plant = Plant([answer(SwOper.FAILED)], reported="2.0.0")

    async def main() -> SwChecks:
        checks = plant.checks()
        plant.offers[MAC] = Offer("fw-2.0.0.p7", "2.0.0")
        checks.file_served(MAC)
        await settle(checks)
        return checks

    checks = asyncio.run(main())
    assert plant.asked == [] and plant.steps == [] and checks.counts["reported"] == 1


def test_a_refusal_is_recorded_on_the_history_with_the_address_asked() -> None:
    plant = Plant([answer(SwOper.FAILED)])

    async def main() -> SwChecks:
        checks = plant.checks()
        plant.offers[MAC] = Offer("fw-2.0.0.p7", "2.0.0")
        checks.file_served(MAC)
        checks.file_served(MAC)  # its file again, without a new offer: one check
        await settle(checks)
        return checks

    checks = asyncio.run(main())
    assert plant.asked == ["10.1.0.7"]
    (step,) = plant.steps
    assert (step.mac, step.step, step.event) == (MAC, "CM-SWDL", Check.FAILED.value)
    assert step.detail.startswith("offered fw-2.0.0.p7 (2.0.0): docsDevSwOperStatus failed(4)")
    assert "(at 10.1.0.7)" in step.detail and plant.commits == 1 and checks.counts[Check.FAILED.value] == 1


def test_a_download_under_way_is_asked_again_at_most_max_asks_times() -> None:
    plant = Plant([answer(SwOper.IN_PROGRESS)] * 10)

    async def main() -> None:
        checks = plant.checks()
        plant.offers[MAC] = Offer("fw-2.0.0.p7", "2.0.0")
        checks.file_served(MAC)
        await settle(checks, rounds=MAX_ASKS + 2)

    asyncio.run(main())
    assert len(plant.asked) == MAX_ASKS
    assert [s.event for s in plant.steps] == [Check.IN_PROGRESS.value] * MAX_ASKS
    assert all("asked again" in s.detail for s in plant.steps[:-1]) and "asked again" not in plant.steps[-1].detail


@pytest.mark.parametrize("leased, answers, words", [(None, [], "no current lease"),
                                                     ("10.1.0.7", [None] * 5, "did not answer")])
def test_no_lease_and_no_answer_are_recorded_as_unanswered(leased: str | None, answers: list[m.Pdu | None],
                                                           words: str) -> None:
    plant = Plant(answers, leased=leased)

    async def main() -> None:
        checks = plant.checks()
        plant.offers[MAC] = Offer("fw-2.0.0.p7", "2.0.0")
        checks.file_served(MAC)
        await settle(checks, rounds=1)

    asyncio.run(main())
    assert plant.steps and plant.steps[0].event == Check.UNANSWERED.value and words in plant.steps[0].detail


def test_checks_waiting_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(swchecks, "MAX_PENDING", 3)
    plant = Plant([])

    async def main() -> SwChecks:
        checks = SwChecks(60.0, take_offer=lambda mac: Offer("fw-2.0.0.p7", "2.0.0"), reported=lambda mac: None,
                          leased=lambda mac: None, ask=plant.ask, record=plant.steps.append, commit=plant.commit,
                          clock=lambda: 0.0)
        for n in range(5):
            checks.file_served(f"00aa000000{n:02x}")
        checks.file_served("00aa00000000")  # a new offer to a waiting modem replaces its check
        pending = len(checks._pending)
        await checks.close()
        assert pending == 3 and checks._pending == {}
        return checks

    checks = asyncio.run(main())
    assert checks.counts["skipped"] == 2 and plant.steps == []

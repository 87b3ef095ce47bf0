"""The SETs the provisioning entity sends an eMTA's agent: in its flow (the file's URL and
hash, over SNMPv2c with the write community or, Secure, SNMPv3 as the device's association),
and pktcMtaDevResetNow outside it (the API's and the CLI's reset)."""

from __future__ import annotations

from pktcable.snmp import message as m
from pktcable.snmp import pktc
from tlv import ber

from .ports import SnmpRequester

_INTEGER = ber.SNMP_TYPE_BY_KEYWORD["integer"]
TRUE = 1  # TruthValue true(1)


async def reset_now(snmp: SnmpRequester, agent: tuple[str, int], community: bytes, tree: pktc.Tree) -> bool:
    """SET pktcMtaDevResetNow=true in ``tree`` at ``agent``; whether the eMTA acknowledged it
    (no answer in the requester's retries is a no)."""
    varbinds = (ber.VarBind(pktc.oids(tree).reset_now, _INTEGER, TRUE),)
    try:
        reply = await snmp.request(agent, community, m.PduType.SET, varbinds)
    except TimeoutError:
        return False
    return reply.pdu.error_status == 0


async def set_varbinds(snmp: SnmpRequester, agent: tuple[str, int], community: bytes, sa: object,
                       varbinds: tuple[ber.VarBind, ...]) -> m.Message:
    """A SET to the agent: with ``community`` when ``sa`` is None, else (Secure) over SNMPv3
    as the association's user at its engine, authPriv when the association has privacy."""
    if sa is None:
        return await snmp.request(agent, community, m.PduType.SET, varbinds)
    pdu = await snmp.request_v3(agent, sa.usm_user(), m.PduType.SET, varbinds)  # type: ignore[attr-defined]
    return m.Message(b"", pdu)

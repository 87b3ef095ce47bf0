"""The provisioning entity's Secure-flow parts (MTA-15 ... MTA-25 over SNMPv3): which
SNMPv3 user is which device, and the config file's protection (MTA-18/19).

Kept apart from entity.py so the Hybrid and Basic paths read as they did; the entity
calls these with the association key management made (kmkeys.SnmpSa).

File protection (pktcable.secure.filecrypt, docs/secure.md "Config file protection"):
the CableLabs tree has no algorithm object, its key follows the association's SNMPv3
privacy (8 octets, DES-CBC, when it has DES; none, 0 octets, when it has none); the
IETF tree's pktcMtaDevProvConfigKey is SIZE(32), so there the file is AES-256-CBC
(aes256CbcMode(4) SET in pktcMtaDevProvConfigEncryptAlg), whose key is 32 octets.
The key comes from the system's random source; the hash is over the plaintext.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pktcable.flow import Flow
from pktcable.flow import events as ev
from pktcable.secure.filecrypt import EncryptAlg, ProtectedFile, Protection, protect
from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.snmp.usm import PrivProtocol
from pktcable.snmp.usmengine import Accepted
from tlv import ber

if TYPE_CHECKING:
    from .entity import ProvisioningEntity

Address = tuple[str, int]
MAC_OCTETS = 6
#: Seconds between two refusals (key management, USM) recorded on one Secure device's history.
REFUSAL_INTERVAL = 1.0
_STRING = ber.SNMP_TYPE_BY_KEYWORD["string"]
_INTEGER = ber.SNMP_TYPE_BY_KEYWORD["integer"]


@dataclass
class SecureState:
    """What the entity holds of its Secure devices: each one's SNMPv3 association from key
    management (kmkeys.SnmpSa), which usmUserName is whose, and the refusals recorded
    (one per device per REFUSAL_INTERVAL; the rest only counted)."""

    associations: dict[str, Any] = field(default_factory=dict)
    v3_users: dict[str, bytes] = field(default_factory=dict)
    v3_users_by_name: dict[bytes, str] = field(default_factory=dict)
    refusal_at: dict[str, float] = field(default_factory=dict)
    refusals_unrecorded: int = 0

    def adopt(self, mac: str, sa: Any, usm: Any, now: float) -> None:
        """``sa`` is ``mac``'s association now; its user replaces any earlier one of the device's
        at ``usm`` (our engine, whose clock reads ``now``), so a device re-keyed under a new name
        leaves no stale keys."""
        self.associations[mac] = sa
        if usm is None:
            return
        user = sa.user_name.encode()
        previous = self.v3_users.pop(mac, None)
        if previous is not None and previous != user:
            self._drop_user(mac, previous, usm)
        # The SA's one key pair at both engines (docs/secure.md "Who is authoritative"): ours
        # for the eMTA's INFORMs, its own (whose clock its AP Request carried) for our SETs.
        usm.add_user(sa.usm_user().at_engine(b""))
        usm.learn(sa.engine_id, sa.engine_boots, sa.engine_time, now)
        self.v3_users[mac] = user
        self.v3_users_by_name[user] = mac

    def forget(self, mac: str, usm: Any) -> None:
        """A device gone from the store: its association and its user's keys go too."""
        self.associations.pop(mac, None)
        self.refusal_at.pop(mac, None)
        user = self.v3_users.pop(mac, None)
        if user is not None:
            self._drop_user(mac, user, usm)

    def _drop_user(self, mac: str, user: bytes, usm: Any) -> None:
        # Unless another device has since keyed under that name (its keys stay).
        if self.v3_users_by_name.get(user) == mac:
            del self.v3_users_by_name[user]
            if usm is not None:
                usm.remove_user(b"", user)


def file_protection(tree: pktc.Tree, sa: Any) -> Protection:
    if tree is pktc.Tree.IETF:
        return Protection(EncryptAlg.AES256_CBC)
    return Protection(EncryptAlg.DES64_CBC if sa.priv is not PrivProtocol.NONE else EncryptAlg.NONE)


def protect_file(data: bytes, tree: pktc.Tree, sa: Any,
                 random: Callable[[int], bytes] = os.urandom) -> tuple[ProtectedFile, tuple[ber.VarBind, ...]]:
    """The file to serve and the varbinds MTA-19 adds to the URL and hash: the key and,
    in the IETF tree, the algorithm. ValueError for a tree with no key object (Euro)."""
    o = pktc.oids(tree)
    if o.config_key is None:
        raise ValueError(f"the {tree.value} MIB tree has no pktcMtaDevProvConfigKey: no Secure flow in it")
    protection = file_protection(tree, sa)
    protected = protect(data, random(protection.alg.key_octets), protection)
    extra = [ber.VarBind(o.config_key, _STRING, protected.key)]
    if o.encrypt_alg is not None:
        extra.append(ber.VarBind(o.encrypt_alg, _INTEGER, int(protected.alg)))
    return protected, tuple(extra)


def _loop_time() -> float:
    """The SNMP endpoint's clock (its event loop's), for what USM learns of a remote engine."""
    return asyncio.get_running_loop().time()


def keys_established(entity: ProvisioningEntity, client: str, sa: Any, ip: str, *, synced: bool = False) -> bool:
    """Key management verified an AP Request from ``ip`` and made an SNMPv3
    association for the Kerberos ``client`` (``<12 hex digits of the MAC>@REALM``, the
    principal the KDC mapped from the device certificate). Believed, like an INFORM,
    only from the address the DHCP server leases to that MAC; returns whether it was
    acted on. The association is kept for the device's SNMPv3 messages."""
    mac = client.partition("@")[0].lower()
    if len(mac) != 2 * MAC_OCTETS or any(c not in "0123456789abcdef" for c in mac):
        entity._reject("bad-mac", ip, f"key-management client {client!r} names no MAC")
        return False
    leased = entity.leased_address(mac)
    if leased != ip and entity.lease_sync is not None and not synced:
        # The lease table is a DHCP worker's: its record of this lease may still be on its way.
        rounds = entity._sync_rounds()
        assert rounds is not None
        waiter = rounds.join()
        if waiter is None:
            entity._reject("not-leased-address", ip, f"{mac}: too many wait for lease records")
            return False
        task = asyncio.ensure_future(_keys_after_sync(entity, client, sa, ip, waiter))
        entity.tasks.add(task)
        task.add_done_callback(entity.tasks.discard)
        return False
    if leased != ip:
        entity._reject("not-leased-address", ip, f"{mac} is leased to {leased}" if leased else f"{mac} holds no lease")
        return False
    device = entity.devices.get(mac)
    if device is None and not entity.config.auto_enroll:
        entity._reject("unknown-device", ip, f"{mac} is not in the device store")
        return False
    if mac not in entity.machines and not entity.lease_acked(mac, device.flow if device else Flow.SECURE.value, ip):
        return False
    entity.secure.adopt(mac, sa, getattr(entity.snmp, "usm", None), _loop_time())
    user = getattr(sa, "user_name", "")
    acted = entity._feed(mac, ev.KeysEstablished(), f"SNMPv3 user {user}")
    entity.commit()
    return acted


async def _keys_after_sync(entity: ProvisioningEntity, client: str, sa: Any, ip: str,
                           waiter: Awaitable[None]) -> None:
    await waiter
    keys_established(entity, client, sa, ip, synced=True)


def handle_v3(entity: ProvisioningEntity, request: Accepted, addr: Address) -> m.Pdu | None | Awaitable[m.Pdu | None]:
    """An SNMPv3 message that passed USM (the endpoint's ``v3_handler``): an INFORM
    from a Secure device's association user, authenticated, naming that device's MAC,
    goes where a community INFORM goes (:meth:`handle`); anything else gets nothing."""
    user = request.user
    mac = entity.secure.v3_users_by_name.get(user.name) if user is not None else None
    if request.pdu.type is not m.PduType.INFORM or mac is None or not request.message.authenticated:
        return None
    try:
        note = pktc.parse_notification(request.pdu.varbinds)
    except pktc.NotificationError as exc:
        entity._reject("not-pktc", addr[0], str(exc))
        return m.Message(b"", request.pdu).response().pdu
    if note.mac.hex() != mac:
        entity._reject("bad-mac", addr[0], f"user {user.name!r} is {mac}'s, the INFORM names {note.mac.hex()}")  # type: ignore[union-attr]
        return m.Message(b"", request.pdu).response().pdu
    reply = entity.handle(m.Message(entity.config.inform_community, request.pdu), addr, secured=True)
    if isinstance(reply, Awaitable):  # waiting for the DHCP worker's lease records (entity.lease_sync)
        return _pdu_of(reply)
    return None if reply is None else reply.pdu


async def _pdu_of(reply: Awaitable[m.Message | None]) -> m.Pdu | None:
    answered = await reply
    return None if answered is None else answered.pdu


def secure_refusal(entity: ProvisioningEntity, mac: str, event: object, detail: str) -> None:
    """Key management refused an AP Request (KeyRequestRefused), or USM an SNMPv3 message
    (UsmFailed), from ``mac``'s address: recorded on a Secure run (the table keeps its
    state: anybody can send one), ignored for any other."""
    machine = entity.machines.get(mac)
    if machine is None or machine.table.flow != Flow.SECURE.value:
        return
    # A flood of forged messages naming the device must not become a flood of store writes:
    # one recorded per device per REFUSAL_INTERVAL, the rest counted.
    now = entity.clock()
    state = entity.secure
    if now - state.refusal_at.get(mac, -REFUSAL_INTERVAL) < REFUSAL_INTERVAL:
        state.refusals_unrecorded += 1
        return
    state.refusal_at[mac] = now
    entity._feed(mac, event, detail[:200])
    entity.commit()

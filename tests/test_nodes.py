"""Serve nodes on one PostgreSQL database: the node table, the heartbeat, and the shared
view of the lease table (store/pg_nodes.py, serve/nodes.py)."""

from __future__ import annotations

import asyncio
import time
from ipaddress import IPv4Address

import pytest
from click.testing import CliRunner

from pktcable.cli import main
from pktcable.serve.config import ServeConfig, check
from pktcable.settings import SettingError
from pktcable.store.leases import Lease, LeaseState
from pktcable.store.pg_nodes import MAX_ID, STALE_AFTER, Node, PgNodes, check_id, default_id, list_nodes


def test_a_node_is_stale_after_missing_its_heartbeats() -> None:
    node = Node("a", "10.0.0.1", "1", 100.0, 200.0, 5.0)
    assert node.status(200.0 + STALE_AFTER * 5.0) == "alive"
    assert node.status(200.0 + STALE_AFTER * 5.0 + 0.1) == "stale"


@pytest.mark.parametrize("bad", ["", " a", "a\n", "x" * (MAX_ID + 1)])
def test_a_node_id_is_printable_and_bounded(bad: str) -> None:
    with pytest.raises(ValueError, match="printable"):
        check_id(bad)
    with pytest.raises(SettingError, match="node_id"):
        check(ServeConfig(node_id=bad))


def test_the_default_id_names_host_and_address() -> None:
    assert default_id("cmts-prov-1", "10.0.0.1") == "cmts-prov-1/10.0.0.1"
    assert check_id(default_id("h" * 200, "10.0.0.1")) == "h" * MAX_ID


def test_node_heartbeat_is_bounded() -> None:
    with pytest.raises(SettingError, match="node_heartbeat"):
        check(ServeConfig(node_heartbeat=0.0))


def test_nodes_are_written_listed_and_leave(pg_url: str) -> None:
    assert list_nodes(pg_url) == []  # no table yet: nothing created by looking
    a, b = PgNodes(pg_url), PgNodes(pg_url)
    a.beat(Node("a", "10.0.0.1", "1.0", 100.0, 100.0, 5.0))
    b.beat(Node("b", "10.0.0.2", "1.0", 110.0, 110.0, 5.0))
    a.beat(Node("a", "10.0.0.1", "1.0", 100.0, 130.0, 5.0))  # a's next heartbeat
    assert [(n.id, n.heartbeat) for n in list_nodes(pg_url)] == [("a", 130.0), ("b", 110.0)]
    assert [n.status(131.0) for n in b.nodes()] == ["alive", "stale"]
    b.leave("b")
    assert [n.id for n in a.nodes()] == ["a"]
    a.close()
    b.close()


def test_the_shared_view_sees_every_nodes_leases(pg_url: str) -> None:
    from pktcable.store.pg_leases import PgLeaseStore

    one, other = PgLeaseStore(pg_url), PgLeaseStore(pg_url)
    one.put(Lease(IPv4Address("10.1.0.10"), "01:aa", "aa:00:00:00:00:01", 2000.0))
    assert one.commit(1000.0) == []
    other.put(Lease(IPv4Address("10.1.0.11"), "01:bb", "bb:00:00:00:00:02", 2000.0))
    other.put(Lease(IPv4Address("10.1.0.12"), "01:cc", "cc:00:00:00:00:03", 900.0))
    assert other.commit(800.0) == []
    view = PgNodes(pg_url)
    assert [str(lease.address) for lease in view.leases()] == ["10.1.0.10", "10.1.0.11", "10.1.0.12"]
    found = view.bound_lease("BB-00-00-00-00-02", 1000.0)
    assert found is not None and (str(found.address), found.state) == ("10.1.0.11", LeaseState.BOUND)
    assert view.bound_lease("cc0000000003", 1000.0) is None  # ran out at 900
    assert view.bound_lease("zz", 1000.0) is None
    for store in (one, other, view):
        store.close()


def test_the_heartbeat_writes_the_row_every_interval_and_removes_it_on_stop(pg_url: str) -> None:
    from pktcable.serve.nodes import NodeBeat

    times = iter(float(t) for t in range(1000, 2000))

    async def main() -> None:
        beat = NodeBeat(pg_url, Node("n1", "10.0.0.1", "1.0", 999.0, 999.0, 0.05), lambda: next(times), 0.05)
        await beat.start()
        seen = {n.heartbeat for n in list_nodes(pg_url)}
        for _ in range(200):  # a loaded machine: up to several seconds for a few beats
            await asyncio.sleep(0.05)
            seen |= {n.heartbeat for n in list_nodes(pg_url)}
            if len(seen) >= 3:
                break
        assert len(seen) >= 3 and min(seen) == 999.0
        await beat.close()
        assert list_nodes(pg_url) == []

    asyncio.run(main())


def test_store_check_lists_the_nodes(pg_url: str) -> None:
    assert CliRunner().invoke(main, ["store", "migrate", "--store", pg_url]).exit_code == 0
    view = PgNodes(pg_url)
    now = time.time()
    view.beat(Node("alpha", "10.0.0.1", "9.9", now - 60, now - 1, 5.0))
    view.beat(Node("beta", "10.0.0.2", "9.9", now - 60, now - 40, 5.0))
    result = CliRunner().invoke(main, ["store", "check", "--store", pg_url])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("node ")]
    assert len(lines) == 2
    assert lines[0].startswith("node alpha: 10.0.0.1, pktcable 9.9, alive")
    assert lines[1].startswith("node beta: 10.0.0.2, pktcable 9.9, stale (heartbeat 40 s ago")
    view.close()


def test_the_secondary_dhcp_server_is_option_122_2_to_the_cms() -> None:
    from pktcable.serve.site import dhcp_config

    def cm_ccc(cfg: ServeConfig) -> dict[str, object]:
        (cm,) = [c for c in dhcp_config(cfg).classes if c.name == "cm"]
        return dict(cm.ccc)

    assert "dhcp-server-2" not in cm_ccc(ServeConfig(address="127.0.0.2"))
    both = cm_ccc(ServeConfig(address="127.0.0.2", secondary_dhcp_server="127.0.0.3"))
    assert (str(both["dhcp-server-1"]), str(both["dhcp-server-2"])) == ("127.0.0.2", "127.0.0.3")
    with pytest.raises(SettingError, match="secondary_dhcp_server"):
        check(ServeConfig(secondary_dhcp_server="dhcp-b.example.net"))


def test_the_relay_sends_to_every_server_and_takes_the_first_answer() -> None:
    import socket

    from pktcable.simulate import net

    async def main() -> None:
        servers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        for sock in servers:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(5)
        relay = await net.open_relay(("127.0.0.1", 0), [s.getsockname() for s in servers])
        try:
            mac = bytes.fromhex("020000000001")
            request = bytes(4) + (7).to_bytes(4, "big") + bytes(20) + mac + bytes(10)
            asking = asyncio.ensure_future(relay.exchange(request, (7, mac), [5.0]))
            got = [await asyncio.to_thread(s.recvfrom, 2048) for s in servers]
            assert [data for data, _ in got] == [request, request]
            back = got[0][1]
            servers[1].sendto(request[:4] + b"\x00\x00\x00\x07" + request[8:] + b"second", back)
            servers[0].sendto(request[:4] + b"\x00\x00\x00\x07" + request[8:] + b"first", back)
            answer = await asking
            assert answer is not None and answer.endswith(b"second")  # whichever came first
            for _ in range(50):
                if relay.stats.received == 2:
                    break
                await asyncio.sleep(0.05)
            assert (relay.stats.sent, relay.stats.received, relay.stats.unmatched) == (2, 2, 1)
        finally:
            relay.close()
            for sock in servers:
                sock.close()

    asyncio.run(main())


def test_simulate_takes_several_servers_but_sip_one() -> None:
    result = CliRunner().invoke(main, ["simulate", "--server", "127.0.0.1", "--server", "127.0.0.9", "--flow", "sip"])
    assert result.exit_code == 2 and "with one --server" in result.output
    result = CliRunner().invoke(main, ["simulate", "--server", "127.0.0.1", "--server", "no-such-host.invalid",
                                       "--flow", "hybrid.2"])
    assert result.exit_code == 2 and "--server no-such-host.invalid" in result.output

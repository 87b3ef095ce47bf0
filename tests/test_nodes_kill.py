"""Two real ``pktcable serve`` processes on one PostgreSQL database, a storm of simulated
eCM + eMTA pairs relayed to both (a CMTS with two helper addresses), and ``kill -9`` of
one node in the middle of it.

What must hold: every device passes (a device the dead node was serving starts over and
the other node serves it whole: DHCP, files, INFORM and SET), every binding made before
the kill keeps its address, no address is bound to two clients and no client holds two
bindings. Then every device starts over once more, with the one node left: each gets the
address it had, the dead node's clients too (taken over from the shared lease table), and
the survivor shows the dead node stale and every lease.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from pktcable.flow import Flow
from pktcable.simulate.emta import SimConfig
from pktcable.simulate.runner import simulate
from pktcable.store.leases import Lease, LeaseState

from .apiclient import bearer
from .ports import free_port
from .procs import FAULT_ENV, stop
from .promtext import value
from .test_e2e import FAST

NODES = ("127.0.0.2", "127.0.0.3")
DEVICES = 32
#: Devices started per second: the storm lasts a few seconds, the kill lands inside it.
RATE = 12.0
#: Seconds each device keeps trying (its walks start over after a failure), generous for a loaded machine.
BUDGET = 150.0
#: Seconds a node has to come up, and the test to see the first bindings.
START_BUDGET = 60.0


def settings(folder: Path, me: str, other: str, url: str, ports: dict[str, int]) -> Path:
    path = folder / f"serve-{me}.toml"
    path.write_text("\n".join([
        f'address = "{me}"', f"store = {json.dumps(url)}", f"data_dir = {json.dumps(str(folder / me))}", f'node_id = "node-{me}"', "node_heartbeat = 0.5",
        f'secondary_dhcp_server = "{other}"',  # 122.2: the eMTAs take an OFFER from either node
        'cm_key = "one-secret-for-every-node"', 'realms = ["HYBRID.2"]', "auto_enroll = true",
        f"dhcp_port = {ports['dhcp']}", f"relay_port = {ports['relay']}", f"tftp_port = {ports['tftp']}",
        f"tod_port = {ports['tod']}", f"snmp_port = {ports['snmp']}", f"agent_port = {ports['agent']}",
        "http_port = 0", f"api_port = {ports['api-' + me]}", "snmp_timeout = 0.3", "snmp_retries = 2",
        "log_level = \"error\"", ""]))
    return path


def get(port: int, path: str, token: str) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=bearer(token))
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read().decode()
    return body if path == "/metrics" else json.loads(body)


def bound_rows(url: str) -> list[Lease]:
    from pktcable.store.pg_leases import PgLeaseStore

    store = PgLeaseStore(url)
    try:
        return [lease for lease in store.load() if lease.state is LeaseState.BOUND]
    finally:
        store.close()


def test_kill_one_node_mid_storm(pg_url: str, tmp_path: Path) -> None:
    from pktcable.store.pg_admin import PgAdminStore

    ports = {name: free_port(NODES[0]) for name in ("dhcp", "relay", "tftp", "tod", "snmp", "agent")}
    ports |= {f"api-{me}": free_port() for me in NODES}
    procs: dict[str, subprocess.Popen[str]] = {}
    logs = {me: tmp_path / f"serve-{me}.log" for me in NODES}
    try:
        for me, other in (NODES, NODES[::-1]):
            procs[me] = subprocess.Popen(
                [sys.executable, "-m", "pktcable", "serve", "--config", str(settings(tmp_path, me, other, pg_url, ports))],
                stderr=logs[me].open("w"), text=True, env=FAULT_ENV)
        deadline = time.monotonic() + START_BUDGET
        while not all("store " in logs[me].read_text() for me in NODES):
            assert all(p.poll() is None for p in procs.values()), {me: logs[me].read_text() for me in NODES}
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.1)
        admin = PgAdminStore(pg_url)
        token = admin.create("tests", "read")
        admin.close()
        doomed, survivor = NODES
        assert {n["id"] for n in get(ports[f"api-{survivor}"], "/api/v1/nodes", token)["nodes"]} == \
            {f"node-{me}" for me in NODES}

        sim = SimConfig(server=doomed, also_servers=(survivor,), dhcp_port=ports["dhcp"], relay="127.0.0.1",
                        relay_port=ports["relay"], snmp_port=ports["snmp"], agent_port=ports["agent"],
                        tftp_port=ports["tftp"], tod_port=ports["tod"], timing=FAST, dhcp_timeout=0.3,
                        dhcp_retries=3, snmp_timeout=0.3, snmp_retries=2, device_budget=BUDGET)
        before_kill: dict[str, Lease] = {}
        killed: list[float] = []

        seen: list[float] = []

        async def kill_mid_storm() -> None:
            # As soon as the doomed node has ACKed a few bindings and runs eMTA flows of its own
            # (which the kill then cuts off), while devices are still starting. The first answer
            # of the two nodes wins, so on a loaded machine the survivor may win the first devices:
            # wait until the doomed node has a flow running, or has started two (a flow takes
            # a fraction of a second: a sample of the gauge can miss every one).
            while True:
                # Not faster: each scrape costs the doomed node loop time (its store counts), and a
                # slower node loses the race for the devices' first answers.
                await asyncio.sleep(0.1)
                text = await asyncio.to_thread(get, ports[f"api-{doomed}"], "/metrics", token)
                seen[:] = [value(text, "pktcable_dhcp_packets_total", event="acks") or 0,
                           value(text, "pktcable_flows_in_progress") or 0,
                           value(text, "pktcable_enrollments_admitted_total") or 0]
                if seen[0] >= 4 and (seen[1] >= 1 or seen[2] >= 2):
                    break
            os.kill(procs[doomed].pid, signal.SIGKILL)
            killed.append(time.monotonic())
            before_kill.update({lease.mac: lease for lease in await asyncio.to_thread(bound_rows, pg_url)})

        async def storm() -> tuple[list[Any], float]:
            killer = asyncio.ensure_future(kill_mid_storm())
            try:
                return await simulate(sim, Flow.HYBRID_2, DEVICES, RATE)
            finally:
                if not killer.done():
                    killer.cancel()

        results, _ = asyncio.run(storm())
        assert killed, f"the doomed node never ACKed: the kill did not happen mid storm (ACKs, flows running, flows started: {seen})"
        assert procs[doomed].wait(10) == -signal.SIGKILL
        failed = {r.mta_mac: (r.state, [d.text for d in r.deviations][-3:]) for r in results if not r.passed}
        assert not failed, failed
        # The kill landed while the doomed node had an eMTA flow running (the trigger above).
        # Its device usually has to start over (a walk retried), but a flow the node had all
        # but finished (its last answer already sent) may end well: counted, not required.
        cut_off = sum(1 for r in results if r.retries)

        rows = bound_rows(pg_url)
        per_client = Counter(lease.client for lease in rows)
        assert max(per_client.values()) == 1, "a client holds two bindings"
        assert len(rows) == 2 * DEVICES  # every eCM and eMTA: one binding each (no address twice: the key)
        after_storm = {lease.mac: lease for lease in rows}
        assert before_kill, "nothing was bound before the kill"
        for mac, lease in before_kill.items():  # no lease lost: each kept its address through the failover
            assert after_storm[mac].address == lease.address, (mac, lease.address, after_storm[mac].address)

        # The survivor's API shows each device's lease, whichever node bound it (the shared table).
        for mac, lease in after_storm.items():
            if lease.device_class == "mta":
                shown = get(ports[f"api-{survivor}"], f"/api/v1/devices/{mac.replace(':', '')}", token)["lease"]
                assert shown is not None and shown["address"] == str(lease.address), (mac, shown)

        # After the outage every device starts over (a plant-wide reboot, or leases running out):
        # the survivor serves the dead node's clients their own addresses, from the shared table.
        naks = value(get(ports[f"api-{survivor}"], "/metrics", token), "pktcable_dhcp_packets_total", event="naks") or 0
        results, _ = asyncio.run(simulate(sim, Flow.HYBRID_2, DEVICES, RATE))
        failed = {r.mta_mac: (r.state, [d.text for d in r.deviations][-3:]) for r in results if not r.passed}
        assert not failed, failed
        rows = bound_rows(pg_url)
        assert len(rows) == 2 * DEVICES and max(Counter(lease.client for lease in rows).values()) == 1
        moved = {lease.mac: (after_storm[lease.mac].address, lease.address) for lease in rows
                 if after_storm[lease.mac].address != lease.address}
        assert not moved, moved
        text = get(ports[f"api-{survivor}"], "/metrics", token)
        assert (value(text, "pktcable_dhcp_packets_total", event="naks") or 0) == naks  # nobody had to start over
        # The survivor learned the dead node's bindings from the table: looked up for a client it
        # did not know (taken-over), or returned by a write the table refused (taken-elsewhere;
        # both nodes hand out the lowest free address first, so this is the usual way).
        learned = sum(value(text, "pktcable_dhcp_packets_total", event=e) or 0 for e in ("taken-over", "taken-elsewhere"))
        assert learned > 0, f"the survivor learned no binding of the dead node ({cut_off} devices were cut off)"
        nodes = {n["id"]: n["status"] for n in get(ports[f"api-{survivor}"], "/api/v1/nodes", token)["nodes"]}
        assert nodes == {f"node-{doomed}": "stale", f"node-{survivor}": "alive"}
        leases = get(ports[f"api-{survivor}"], "/api/v1/leases?limit=1000", token)
        assert sum(item["state"] == "bound" for item in leases["items"]) == 2 * DEVICES  # every node's leases
        assert stop(procs[survivor]) == 0
        assert "(no API token yet: pktcable token create --store 'postgresql://" in logs[survivor].read_text()
        from pktcable.store.pg_nodes import list_nodes

        assert [node.id for node in list_nodes(pg_url)] == [f"node-{doomed}"]  # a clean stop takes its row
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                stop(proc)

"""Who may use the operators' API, from where, and what is written down: tokens
and roles, the Host and Origin checks, body types, problem details, TLS, the
audit log. Each attack test is named after the attack it stops."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import ssl
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from openapi_spec_validator import validate

from pktcable.serve.apiviews import openapi_document
from pktcable.serve.config import ServeConfig, check
from pktcable.settings import SettingError
from pktcable.store.admin import AdminError, AdminStore, digest
from pktcable.store.devices import Device

from .apiclient import serving
from .test_api import FakeOffice

MAC = "0a0b0c0d0e01"


def office_with_device() -> FakeOffice:
    office = FakeOffice()
    office.store.put(Device(MAC, kind="mta", flow="HYBRID.2", ip="127.0.0.5", state="DONE", result=1))
    office.answers[MAC] = True
    return office


def test_openapi_document_is_valid_openapi_3_1_and_served_without_a_token() -> None:
    document = json.loads(openapi_document())
    validate(document)
    assert document["openapi"].startswith("3.1")

    async def main() -> None:
        async with serving(FakeOffice()) as (call, _):
            status, served = await call("GET", "/api/v1/openapi.json", token=None)
            assert status == 200 and served == document

    asyncio.run(main())


def test_each_role_no_token_and_a_revoked_token() -> None:
    office = office_with_device()

    async def main() -> None:
        async with serving(office) as (call, admin):
            reader = admin.create("bob", "read")
            status, why = await call("GET", "/api/v1/devices", token=None)
            assert (status, why["code"]) == (401, "unauthorized")
            assert call.last_headers["WWW-Authenticate"].startswith("Bearer")
            for bad in ("pkt_" + "x" * 43, "", "pkt_" + "x" * 500):
                assert (await call("GET", "/api/v1/devices", token=bad))[0] == 401
            assert (await call("GET", "/api/v1/devices", token=None, headers={"Authorization": "Basic YTpi"}))[0] == 401
            assert (await call("GET", "/metrics", token=None))[0] == 401

            # read: every GET, no write
            assert (await call("GET", "/api/v1/whoami", token=reader))[1] == {"name": "bob", "role": "read"}
            for path in ("/api/v1/devices", f"/api/v1/devices/{MAC}", "/api/v1/summary", "/api/v1/templates",
                         "/api/v1/leases", "/api/v1/settings", "/api/v1/audit", "/metrics"):
                assert (await call("GET", path, token=reader))[0] == 200, path
            for method, path, body in (("PUT", f"/api/v1/devices/{MAC}", {"vars": {}}),
                                       ("DELETE", f"/api/v1/devices/{MAC}", None),
                                       ("POST", f"/api/v1/devices/{MAC}/reset", None),
                                       ("POST", f"/api/v1/devices/{MAC}/reprovision", None),
                                       ("POST", "/api/v1/templates/validate", {"kind": "cm", "text": ""}),
                                       ("POST", "/api/v1/templates/cm.txt/preview", {"mac": MAC})):
                status, why = await call(method, path, token=reader, json=body)
                assert (status, why["code"]) == (403, "forbidden"), (method, path)
            assert office.saved == [] and office.resets == [] and office.store.get(MAC) is not None

            # operator: writes too
            assert (await call("PUT", f"/api/v1/devices/{MAC}", json={"vars": {"a": 1}}))[0] == 200
            admin.revoke("alice")
            status, why = await call("PUT", f"/api/v1/devices/{MAC}", json={"vars": {"a": 2}})
            assert (status, why["code"]) == (401, "unauthorized") and "revoked" in why["detail"]
            assert office.store.get(MAC).vars == {"a": 1}  # type: ignore[union-attr]

    asyncio.run(main())


def test_metrics_open_lets_a_scraper_in_without_a_token_and_nothing_else() -> None:
    async def main() -> None:
        async with serving(FakeOffice(), metrics_open=True) as (call, _):
            assert (await call("GET", "/metrics", token=None))[0] == 200
            assert (await call("GET", "/api/v1/devices", token=None))[0] == 401

    asyncio.run(main())


def test_cross_site_form_post_is_refused() -> None:
    """A page on another site submits a form to the API (the browser would add the
    victim's credentials if it had any): refused by its Origin, and a form body is
    refused by its type even without one; nothing changes."""
    office = office_with_device()

    async def main() -> None:
        async with serving(office) as (call, _):
            form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}
            status, why = await call("POST", f"/api/v1/devices/{MAC}/reset", headers=form, data=b"x=1")
            assert (status, why["code"]) == (403, "bad-origin")
            status, why = await call("GET", "/api/v1/devices", headers={"Origin": "http://evil.example"})
            assert (status, why["code"]) == (403, "bad-origin")  # reading is refused too
            status, why = await call("PUT", f"/api/v1/devices/{MAC}", data=b"kind=cm",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert (status, why["code"]) == (415, "unsupported-media-type")
            status, why = await call("PUT", f"/api/v1/devices/{MAC}", data=b'{"kind": "cm"}',
                                     headers={"Content-Type": "text/plain"})
            assert (status, why["code"]) == (415, "unsupported-media-type")
            assert office.resets == [] and office.saved == []
            # The API's own origin (the dashboard's page) may.
            same = {"Origin": call.base}
            assert (await call("POST", f"/api/v1/devices/{MAC}/reset", headers=same))[0] == 200

    asyncio.run(main())


def test_dns_rebinding_host_is_refused() -> None:
    """A site whose name resolves to 127.0.0.1 sends its own name as Host: refused before
    the token is even looked at; names in api_hosts and localhost are taken."""
    async def main() -> None:
        async with serving(office_with_device(), hosts=("ops.example.net",)) as (call, _):
            port = call.base.rsplit(":", 1)[1]
            for host in ("evil.example", f"evil.example:{port}", "127.0.0.2", ""):
                status, why = await call("GET", "/api/v1/devices", headers={"Host": host})
                assert (status, why["code"]) == (421, "bad-host"), host
            status, why = await call("GET", "/api/v1/openapi.json", token=None, headers={"Host": "evil.example"})
            assert status == 421
            for host in (f"localhost:{port}", f"ops.example.net:{port}", f"OPS.example.net:{port}"):
                assert (await call("GET", "/api/v1/devices", headers={"Host": host}))[0] == 200, host

    asyncio.run(main())


def test_every_error_is_a_problem_document_aiohttps_own_too() -> None:
    async def main() -> None:
        async with serving(office_with_device()) as (call, _):
            for method, path, kw, status, code in (
                    ("GET", "/api/v1/nothing", {}, 404, "not-found"),
                    ("GET", "/nothing", {}, 404, "not-found"),
                    ("PATCH", f"/api/v1/devices/{MAC}", {"json": {}}, 405, "method-not-allowed"),
                    ("PUT", f"/api/v1/devices/{MAC}", {"data": b"{" + b" " * 300_000 + b"}",
                                                       "headers": {"Content-Type": "application/json"}},
                     413, "too-large"),
                    ("GET", "/api/v1/devices?limit=0", {}, 400, "bad-request"),
                    ("GET", "/api/v1/devices?colour=red", {}, 400, "bad-request"),
                    ("GET", "/api/v1/devices?sort=size", {}, 400, "bad-request"),
                    ("GET", "/api/v1/devices?cursor=%21%21", {}, 400, "bad-request"),
                    ("GET", "/api/v1/audit?cursor=x", {}, 400, "bad-request"),
                    ("GET", "/api/v1/leases?cursor=x", {}, 400, "bad-request")):
                if path.startswith("/api/v1/nothing") or method == "PATCH":
                    # not in the document: checked by hand
                    async with call.http.request(method, call.base + path, headers={
                            "Authorization": f"Bearer {call.token}"}, **kw) as r:
                        body = await r.json(content_type=None)
                        assert r.content_type == "application/problem+json"
                        got = (r.status, body["code"], body["status"])
                        assert got == (status, code, status), got
                        if status == 405:
                            assert "PUT" in r.headers["Allow"]
                    continue
                got_status, body = await call(method, path, **kw)
                assert (got_status, body["code"]) == (status, code), (method, path, body)
                assert body["type"].endswith(code) and body["title"] and body["detail"]

    asyncio.run(main())


def test_the_audit_log_records_who_did_what_before_and_after() -> None:
    office = office_with_device()

    async def main() -> None:
        async with serving(office) as (call, admin):
            await call("PUT", f"/api/v1/devices/{MAC}", json={"vars": {"lines": 2}})
            await call("PUT", "/api/v1/devices/0a0b0c0d0e02", json={"kind": "cm"})
            await call("POST", f"/api/v1/devices/{MAC}/reset")
            office.answers[MAC] = None
            await call("POST", f"/api/v1/devices/{MAC}/reprovision")
            await call("DELETE", "/api/v1/devices/0a0b0c0d0e02")
            await call("GET", "/api/v1/devices")  # reads are not written down
            reader = admin.create("bob", "read")
            status, log = await call("GET", "/api/v1/audit?limit=2", token=reader)
            assert status == 200 and len(log["items"]) == 2 and log["next"]
            status, rest = await call("GET", f"/api/v1/audit?limit=10&cursor={log['next']}", token=reader)
            entries = log["items"] + rest["items"]
            assert rest["next"] is None
            assert [(e["action"], e["target"]) for e in entries] == [
                ("device.delete", "0a0b0c0d0e02"), ("device.reprovision", MAC), ("device.reset", MAC),
                ("device.put", "0a0b0c0d0e02"), ("device.put", MAC)]
            assert {(e["who"], e["role"], e["source"]) for e in entries} == {("alice", "operator", "127.0.0.1")}
            delete, reprovision, reset, create, change = entries
            assert delete["before"]["kind"] == "cm" and delete["after"] is None
            assert reprovision["after"] == {"error": "no-current-lease"}
            assert reset["after"]["acknowledged"] is True and reset["before"]["state"] == "DONE"
            assert create["before"] is None and create["after"]["kind"] == "cm"
            assert change["before"]["vars"] == {} and change["after"]["vars"] == {"lines": 2}
            since = (await call("GET", f"/api/v1/audit?since={entries[0]['at']}"))[1]["items"]
            assert [e["action"] for e in since][0] == "device.delete"

    asyncio.run(main())


def test_auth_failures_are_counted_per_source_and_logged_at_most_once_a_minute(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with serving(FakeOffice()) as (call, _):

            for _ in range(20):
                assert (await call("GET", "/api/v1/devices", token="pkt_guess"))[0] == 401
            return call

    with caplog.at_level(logging.WARNING, logger="pktcable.serve.api"):
        asyncio.run(main())
    lines = [r for r in caplog.records if "authentication failed" in r.getMessage()]
    assert len(lines) == 1 and "127.0.0.1" in lines[0].getMessage()


def test_failures_table_is_bounded() -> None:
    from pktcable.serve.apiauth import MAX_SOURCES, Access

    access = Access(AdminStore(":memory:"), frozenset({"127.0.0.1"}))
    for i in range(MAX_SOURCES + 500):
        access.failed(f"10.0.{i // 256}.{i % 256}", "invalid")
    assert len(access.failures) == MAX_SOURCES and access.failure_reasons["invalid"] == MAX_SOURCES + 500


def test_tokens_are_kept_hashed_shown_once_and_named_uniquely(tmp_path: Path) -> None:
    admin = AdminStore(str(tmp_path / "admin.db"))
    token = admin.create("alice", "operator")
    assert token.startswith("pkt_") and len(token) > 40
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("admin.db*"))  # the file and its WAL
    assert token.encode() not in raw and digest(token).encode() in raw
    with pytest.raises(AdminError, match="in use"):
        admin.create("alice", "read")
    with pytest.raises(AdminError, match="role"):
        admin.create("carol", "admin")
    with pytest.raises(AdminError, match="name"):
        admin.create("a b", "read")
    assert admin.authenticate(token).name == "alice"  # type: ignore[union-attr]
    assert admin.tokens()[0].last_used is not None
    admin.revoke("alice")
    assert admin.authenticate(token) is None
    again = admin.create("alice", "read")  # a revoked name may be given a new token
    assert admin.authenticate(token) is None and admin.authenticate(again).role == "read"  # type: ignore[union-attr]
    admin.close()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pktcable", *args], capture_output=True, text=True, timeout=60)


def test_token_command_creates_lists_and_revokes(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    made = run_cli("token", "create", "--data-dir", data, "--name", "alice", "--role", "operator")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("pkt_") and token not in (tmp_path / "data" / "admin.db").read_bytes().decode("latin-1")
    assert oct((tmp_path / "data" / "admin.db").stat().st_mode & 0o777) == "0o600"
    listed = run_cli("token", "list", "--data-dir", data, "--json")
    [row] = json.loads(listed.stdout)
    assert row["name"] == "alice" and row["role"] == "operator" and row["revoked"] is None
    assert token not in listed.stdout
    twice = run_cli("token", "create", "--data-dir", data, "--name", "alice", "--role", "read")
    assert twice.returncode == 2 and twice.stderr.count("\n") == 1 and "in use" in twice.stderr
    bad = run_cli("token", "create", "--data-dir", data, "--name", "x", "--role", "root")
    assert bad.returncode == 2
    assert run_cli("token", "revoke", "--data-dir", data, "--name", "alice").returncode == 0
    assert json.loads(run_cli("token", "list", "--data-dir", data, "--json").stdout)[0]["revoked"] is not None
    gone = run_cli("token", "revoke", "--data-dir", data, "--name", "alice")
    assert gone.returncode == 2 and "no token" in gone.stderr
    assert AdminStore(str(tmp_path / "data" / "admin.db")).authenticate(token) is None


def self_signed(folder: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "api.pem", folder / "api.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_tls_api_with_a_self_signed_certificate(tmp_path: Path) -> None:
    from pktcable.serve.config import api_ssl

    cert, key = self_signed(tmp_path)
    cfg = check(ServeConfig(api_cert=cert, api_key=key, api_port=0, dhcp_port=0, tftp_port=0, http_port=0,
                            tod_port=0, snmp_port=0, cm_key="k"))
    context = api_ssl(cfg)
    assert context is not None

    async def main() -> None:
        async with serving(office_with_device(), ssl_context=context) as (call, _):
            trusting = ssl.create_default_context(cafile=cert)
            status, who = await call("GET", "/api/v1/whoami", ssl=trusting)
            assert status == 200 and who["name"] == "alice"
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await call("GET", "/api/v1/whoami")  # the system's CAs do not vouch for it

    asyncio.run(main())


@pytest.mark.parametrize(("settings", "key"), [
    ({"api_cert": "CERT"}, "api_key"),
    ({"api_key": "KEY"}, "api_cert"),
    ({"api_cert": "/nonexistent/api.pem", "api_key": "KEY"}, "api_cert"),
    ({"api_cert": "KEY", "api_key": "CERT"}, "api_cert"),
    ({"api_hosts": ["evil.example/"]}, "api_hosts[0]"),
])
def test_bad_api_settings_name_the_key(tmp_path: Path, settings: dict[str, object], key: str) -> None:
    cert, private = self_signed(tmp_path)
    given = {k: (cert if v == "CERT" else private if v == "KEY" else v) for k, v in settings.items()}
    with pytest.raises(SettingError) as caught:
        check(ServeConfig(cm_key="k", **given))  # type: ignore[arg-type]
    assert caught.value.key == key


def test_serve_with_a_bad_api_cert_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "serve.toml").write_text(f'api_cert = "{tmp_path}/none.pem"\napi_key = "{tmp_path}/none.key"\n')
    done = run_cli("serve", "--memory", "--config", str(tmp_path / "serve.toml"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "api_cert" in done.stderr, done.stderr


def test_the_dashboard_page_holds_no_device_and_needs_no_token() -> None:
    async def main() -> None:
        async with serving(office_with_device()) as (call, _):
            status, page = await call("GET", "/", token=None)
            assert status == 200 and "/static/app.js" in page and MAC not in page
            assert (await call("GET", "/static/app.js", token=None))[0] == 200
            assert (await call("GET", "/api/v1/devices", token=None))[0] == 401  # the data stays behind the token

    asyncio.run(main())


def test_openapi_document_names_every_route_and_only_those() -> None:
    """The document's paths and methods are the API's routes (a route added without its
    documentation, or documented and gone, fails here), and the device view's schema names
    each field the handler writes, a SIP phone's ``phone`` object among them."""
    from pktcable.serve import api
    from pktcable.serve.apiauth import Access, allowed_hosts
    from pktcable.store.admin import AdminStore

    document = json.loads(openapi_document())
    app = api.make_api(FakeOffice(), Access(AdminStore(":memory:"), allowed_hosts("127.0.0.1", []), False))
    routes: set[tuple[str, str]] = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith(api.PREFIX) and route.method != "HEAD":
            routes.add((path[len(api.PREFIX):], route.method.lower()))
    documented = {(path, method) for path, item in document["paths"].items() for method in item
                  if method in ("get", "put", "post", "delete", "patch")}
    assert routes == documented
    detail = document["components"]["schemas"]["DeviceDetail"]
    assert set(detail["required"]) == {"history", "lease", "files", "phone", "firmware"} == set(detail["properties"])
    firmware = document["components"]["schemas"]["FirmwareStatus"]
    from ipaddress import IPv4Address

    from pktcable.serve.upgrades import Upgrades
    from pktcable.store.firmware import MemoryFirmwareStore

    view = Upgrades(MemoryFirmwareStore(), lambda: 0.0, IPv4Address("10.0.0.1")).view("00" * 6)
    assert set(firmware["required"]) == set(firmware["properties"]) == set(view)
    phone = document["components"]["schemas"]["PhoneStatus"]
    from pktcable.serve.phonestatus import phone_view

    assert set(phone["required"]) == set(phone["properties"]) == set(phone_view([], None))

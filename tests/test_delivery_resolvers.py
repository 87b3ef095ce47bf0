"""Resolvers: a folder without escapes, per-exchange names, config files built from templates."""

from __future__ import annotations

import os
import time
from pathlib import Path

import jinja2
import pytest

from pktcable.delivery.resolvers import (
    AccessDenied,
    BuildFailed,
    ChainResolver,
    Device,
    DirectoryResolver,
    InMemoryDevices,
    MemoryResolver,
    NotFound,
    OneTimeNames,
    OneTimeResolver,
    TemplateResolver,
)
from tlv.config import compile_text, decode_file

from .conftest import DATA

CLIENT = ("192.0.2.7", 1234)
TEMPLATES = DATA / "delivery"
MTA_VARS = {"lines": [9, 10], "call_agent": "ca@cms.example.net", "org": "Example Cable"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "fw").mkdir(parents=True)
    (root / "fw" / "image.bin").write_bytes(b"image")
    (root / "top.cfg").write_bytes(b"top")
    (tmp_path / "secret").write_bytes(b"secret")
    (root / "escape").symlink_to(tmp_path / "secret")
    (root / "inside").symlink_to(root / "top.cfg")
    (root / "escdir").symlink_to(tmp_path)
    return root


def test_directory_serves_files_below_root(root: Path) -> None:
    r = DirectoryResolver(root)
    assert r.resolve("fw/image.bin", CLIENT) == b"image"
    assert r.resolve("./fw//image.bin", CLIENT) == b"image"
    assert r.resolve("inside", CLIENT) == b"top"  # a link that stays inside is fine


@pytest.mark.parametrize("name", ["/etc/passwd", "../secret", "fw/../../secret", "escape", "escdir/secret",
                                  "fw\\..\\..\\secret", "top.cfg\0.bin", ".."])
def test_directory_refuses_escapes(root: Path, name: str) -> None:
    with pytest.raises(AccessDenied):
        DirectoryResolver(root).resolve(name, CLIENT)


@pytest.mark.parametrize("name", ["missing", "fw", "fw/", "", "."])
def test_directory_not_found(root: Path, name: str) -> None:
    with pytest.raises(NotFound):
        DirectoryResolver(root).resolve(name, CLIENT)


def test_directory_cache_follows_changes(root: Path) -> None:
    r = DirectoryResolver(root, cache_bytes=10)
    assert r.resolve("top.cfg", CLIENT) == b"top"
    path = root / "top.cfg"
    path.write_bytes(b"changed")
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    assert r.resolve("top.cfg", CLIENT) == b"changed"
    (root / "big").write_bytes(b"x" * 100)  # larger than the cache: served, not kept
    assert r.resolve("big", CLIENT) == b"x" * 100


def test_one_time_names() -> None:
    tokens = iter(["aa", "bb", "cc", "cc"])
    names = OneTimeNames(lifetime=60, token=lambda: next(tokens))
    a = names.issue("mta-1.cfg", "192.0.2.7", now=0)
    b = names.issue("mta-2.cfg", "192.0.2.8", now=10)
    assert (a, b) == ("x-aa.cfg", "x-bb.cfg")
    assert names.take(a, "192.0.2.99", now=1) is None  # another client: refused, not spent
    assert names.take(a, "192.0.2.7", now=1) == "mta-1.cfg"
    assert names.take(a, "192.0.2.7", now=2) is None  # one download
    assert names.take(b, "192.0.2.8", now=70) is None  # expired
    c = names.issue("mta-3.cfg", "192.0.2.9", now=100)
    with pytest.raises(ValueError):
        names.issue("mta-4.cfg", "192.0.2.9", now=100)
    names.expire(200)
    assert len(names) == 0 and names.take(c, "192.0.2.9", now=200) is None


def test_one_time_resolver_with_fallback() -> None:
    now = [0.0]
    names = OneTimeNames(lifetime=60)
    inner = MemoryResolver({"mta-1.cfg": b"config"})
    r = OneTimeResolver(names, inner, clock=lambda: now[0], fallback=MemoryResolver({"fw.bin": b"fw"}))
    name = names.issue("mta-1.cfg", CLIENT[0], now[0])
    assert r.resolve(name, CLIENT) == b"config"
    with pytest.raises(NotFound):
        r.resolve(name, CLIENT)
    assert r.resolve("fw.bin", CLIENT) == b"fw"
    with pytest.raises(NotFound):
        r.resolve("mta-1.cfg", CLIENT)  # only through a per-exchange name
    with pytest.raises(NotFound):
        OneTimeResolver(names, inner, clock=lambda: 0).resolve("fw.bin", CLIENT)


def test_chain_stops_at_denial() -> None:
    class Deny:
        def resolve(self, name: str, client: tuple[str, int]) -> bytes:
            raise AccessDenied(name, "no")

    assert ChainResolver([MemoryResolver({}), MemoryResolver({"a": b"1"})]).resolve("a", CLIENT) == b"1"
    with pytest.raises(AccessDenied):
        ChainResolver([Deny(), MemoryResolver({"a": b"1"})]).resolve("a", CLIENT)
    with pytest.raises(NotFound):
        ChainResolver([]).resolve("a", CLIENT)


def devices() -> InMemoryDevices:
    return InMemoryDevices([
        Device("001122334455", kind="mta", template="mta.cfg.j2", flow="BASIC.1", ip="192.0.2.7", vars=MTA_VARS),
        Device("00112233aa55", kind="cm", template="cm.cfg.j2", flow="BASIC.1", vars={"max_cpe": 4, "up": 10_000_000, "down": 100_000_000}),
        Device("00112233aa66", kind="mta", template="mta.cfg.j2", flow="BASIC.1", vars={"lines": [9]}),  # call_agent missing
        Device("00112233aa77", kind="mta", template="broken.j2", flow="BASIC.1", vars={}),
    ])


def templates(mib_ctx: object) -> TemplateResolver:
    loader = jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(TEMPLATES),
        jinja2.DictLoader({"broken.j2": "Main { MtaConfigDelimiter 1; NoSuchKeyword 3; MtaConfigDelimiter 255; }"}),
    ])
    return TemplateResolver(devices(), loader, ctx=mib_ctx, cm_key=b"shared-secret")  # type: ignore[arg-type]


def test_template_builds_the_devices_file(mib_ctx: object) -> None:
    r = templates(mib_ctx)
    text = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES)).get_template("mta.cfg.j2").render(MTA_VARS)
    expected = compile_text(text, ctx=mib_ctx, hash="cablelabs")  # type: ignore[arg-type]
    assert r.resolve("mta-001122334455.cfg", CLIENT) == expected
    assert r.resolve("mta_00:11:22:33:44:55.bin", ("198.51.100.1", 9)) == expected  # by MAC from anywhere
    assert r.resolve("mta.cfg", CLIENT) == expected  # by the asking IP
    assert decode_file(expected).hash_ok
    assert b"ca@cms.example.net" in expected
    cm = decode_file(r.resolve("cm-00112233AA55.cfg", CLIENT), key=b"shared-secret")
    assert cm.mic_ok  # a complete CM file, MICs computed with the CMTS key


@pytest.mark.parametrize("name", ["mta-001122334499.cfg", "cm-001122334455.cfg", "mta.cfg.bak", "x.cfg"])
def test_template_not_found(mib_ctx: object, name: str) -> None:
    with pytest.raises(NotFound):
        templates(mib_ctx).resolve(name, ("198.51.100.1", 9))


@pytest.mark.parametrize("name, why", [("mta-00112233aa66.cfg", "call_agent"), ("mta-00112233aa77.cfg", "NoSuchKeyword")])
def test_template_build_errors(mib_ctx: object, name: str, why: str) -> None:
    with pytest.raises(BuildFailed, match=why):
        templates(mib_ctx).resolve(name, CLIENT)




def test_files_are_built_once_per_distinct_facts(tmp_path: Path, mib_ctx) -> None:  # type: ignore[no-untyped-def]
    from pktcable.store.devices import Device as StoreDevice

    (tmp_path / "plain.txt").write_text("Main { NetworkAccess {{ access }}; }")
    (tmp_path / "named.txt").write_text("Main { /* {{ mac }} */ NetworkAccess 1; }")
    one = StoreDevice("001122334455", kind="cm", template="plain.txt", vars={"access": 1})
    two = StoreDevice("001122334466", kind="cm", template="plain.txt", vars={"access": 1})
    off = StoreDevice("001122334477", kind="cm", template="plain.txt", vars={"access": 0})
    resolver = TemplateResolver(InMemoryDevices([one, two, off]), jinja2.FileSystemLoader(str(tmp_path)),
                                ctx=mib_ctx, cm_key=b"k")
    a, b, c = (resolver.build(d) for d in (one, two, off))
    assert a is b and a != c  # the template never reads the MAC: one build serves both
    named = [StoreDevice(m, kind="cm", template="named.txt") for m in ("001122334455", "001122334466")]
    x, y = (resolver.build(d) for d in named)
    assert x is not y and x == y  # reads the MAC: built per device (same bytes here: a comment)
    # An edited template is picked up, not served from the cache.
    (tmp_path / "plain.txt").write_text("Main { NetworkAccess {{ access }}; MaxCPE 3; }")
    os.utime(tmp_path / "plain.txt", (time.time() + 5, time.time() + 5))
    assert resolver.build(one) != a

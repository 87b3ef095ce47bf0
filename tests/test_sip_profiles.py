"""Phone profiles: rendering from device variables, XSD validation before serving."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lxml import etree

from pktcable.phones.profiles import LAYOUTS, SHIPPED, ProfileError, Profiles
from tests.peers import require

MAC = "0004f2000001"
VARS = {"registrar": "sip.example.net", "registrar_port": 5062, "transport": "tls",
        "lines": [{"user": "1001", "password": "p<&>w", "display_name": "Ann </display-name><x/>"},
                  {"user": "1002", "password": "x"}],
        "codecs": ["G722", "PCMU"], "firmware_url": "http://fw.example/v2.bin", "ntp_server": "10.0.0.1",
        "features": {"dnd": True}}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_renders_valid_xml_that_keeps_hostile_text_as_text(layout: str) -> None:
    profile = Profiles().build(MAC, layout, VARS)
    root = etree.fromstring(profile.data)
    texts = [t for t in root.itertext()] + [v for e in root.iter() for v in e.attrib.values()]
    assert "Ann </display-name><x/>" in texts  # escaped, so still one value
    assert "p<&>w" in texts
    assert not any(e.tag == "x" for e in root.iter())
    assert profile.etag == f'"{profile.version[:32]}"'


def test_generic_profile_carries_every_variable() -> None:
    root = etree.fromstring(Profiles().build(MAC, "generic", VARS).data)
    ns = {"p": "urn:pktcable:params:xml:ns:sip-profile:1"}
    assert root.get("mac") == MAC
    reg = root.find("p:registrar", ns)
    assert (reg.get("host"), reg.get("port"), reg.get("transport")) == ("sip.example.net", "5062", "tls")
    assert [c.text for c in root.findall("p:codecs/p:codec", ns)] == ["G722", "PCMU"]
    assert [c.get("payload-type") for c in root.findall("p:codecs/p:codec", ns)] == ["9", "0"]
    assert root.find("p:firmware", ns).get("url") == "http://fw.example/v2.bin"
    assert {f.get("name"): f.get("enabled") for f in root.findall("p:features/p:feature", ns)} == \
        {"call_waiting": "false", "dnd": "true"}


def test_polycom_ranks_every_codec_and_snom_lists_payload_types() -> None:
    poly = etree.fromstring(Profiles().build(MAC, "polycom", VARS).data)
    voice = poly.find("voice").attrib
    assert dict(voice) == {"voice.codecPref.G711_Mu": "2", "voice.codecPref.G711_A": "0",
                           "voice.codecPref.G722": "1", "voice.codecPref.G729_AB": "0"}
    assert poly.findall("reg")[1].get("reg.2.server.1.transport") == "TLS"
    snom = etree.fromstring(Profiles().build(MAC, "snom", VARS).data)
    assert [e.text for e in snom.iter("codec1_name", "codec2_name") if e.get("idx") == "1"] == ["9", "0"]


def test_the_version_follows_the_content() -> None:
    profiles = Profiles()
    a = profiles.build(MAC, "generic", VARS)
    assert profiles.build(MAC, "generic", dict(VARS)).etag == a.etag
    b = profiles.build(MAC, "generic", {**VARS, "codecs": ["PCMA"]})
    assert b.etag != a.etag


@pytest.mark.parametrize(("change", "field"), [
    ({"registrar": "bad host!"}, "registrar"),
    ({"registrar_port": 0}, "registrar_port"),
    ({"transport": "sctp"}, "transport"),
    ({"lines": []}, "lines"),
    ({"lines": [{"user": "a b", "password": "x"}]}, "lines[1].user"),
    ({"lines": [{"user": "1", "password": "x\n"}]}, "lines[1].password"),
    ({"codecs": ["OPUS"]}, "codecs"),
    ({"features": {"autoanswer": True}}, "features"),
    ({"firmware_url": "ftp://x"}, "firmware_url"),
    ({"colour": "red"}, "colour"),
])
def test_bad_variables_are_refused_with_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ProfileError) as info:
        Profiles().build(MAC, "generic", {**VARS, **change})
    assert info.value.field == field


def test_a_template_that_breaks_the_schema_is_never_served(tmp_path: Path) -> None:
    # An operator's edited template that writes an element the schema does not know.
    text = (SHIPPED / "generic.xml.j2").read_text().replace("<lines>", "<lines><bogus/>")
    (tmp_path / "generic.xml.j2").write_text(text)
    with pytest.raises(ProfileError) as info:
        Profiles(tmp_path).build(MAC, "generic", VARS)
    assert info.value.field == "schema" and "bogus" in info.value.reason


def test_unknown_layout_is_refused() -> None:
    with pytest.raises(ProfileError, match="unknown layout"):
        Profiles().build(MAC, "cisco", VARS)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_xmllint_agrees_with_the_shipped_schema(layout: str, tmp_path: Path) -> None:
    require("xmllint")
    path = tmp_path / "p.xml"
    path.write_bytes(Profiles().build(MAC, layout, VARS).data)
    xsd = str(SHIPPED / LAYOUTS[layout].schema)
    run = subprocess.run(["xmllint", "--noout", "--schema", xsd, str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    path.write_bytes(path.read_bytes().replace(b"</settings>", b"<junk/></settings>")
                     .replace(b"</profile>", b"<junk/></profile>").replace(b"</polycomConfig>", b"<junk/></polycomConfig>"))
    assert subprocess.run(["xmllint", "--noout", "--schema", xsd, str(path)], capture_output=True).returncode != 0


def test_one_version_is_built_once_until_its_variables_or_template_change(tmp_path: Path) -> None:
    import os

    (tmp_path / "generic.xml.j2").write_text((SHIPPED / "generic.xml.j2").read_text())
    profiles = Profiles(tmp_path)
    a = profiles.build(MAC, "generic", VARS)
    assert profiles.build(MAC, "generic", dict(VARS)) is a and profiles.builds == 1
    assert profiles.build("0004f2000002", "generic", VARS).mac == "0004f2000002"  # per phone
    changed = {**VARS, "codecs": ["PCMA"]}
    assert profiles.build(MAC, "generic", changed).version != a.version and profiles.builds == 3
    assert profiles.build(MAC, "polycom", changed).layout == "polycom"  # the layout is part of it
    text = (SHIPPED / "generic.xml.j2").read_text().replace("<lines>", "<lines>\n")
    (tmp_path / "generic.xml.j2").write_text(text)
    os.utime(tmp_path / "generic.xml.j2", (1, 2))  # another mtime, whatever the clock's granularity
    edited = profiles.build(MAC, "generic", changed)
    assert edited.data.count(b"\n") == profiles.build(MAC, "generic", changed).data.count(b"\n")
    assert b"<lines>\n" in edited.data and profiles.builds == 5


def test_the_cache_is_bounded() -> None:
    profiles = Profiles(cache_size=2)
    for n in range(3):
        profiles.build(f"0004f200000{n}", "generic", VARS)
    profiles.build("0004f2000000", "generic", VARS)  # the oldest was dropped: built again
    assert profiles.builds == 4 and len(profiles._built) == 2

"""OID registry: name resolution, reverse lookup, user MIBs and the cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mibs import IndexPart, MibError, MibObject, Registry, default_registry
from mibs.objects import COLUMN, INTEGER, OCTET_STRING

ROOT = Path(__file__).resolve().parent.parent


def dotted(text: str) -> tuple[int, ...]:
    return tuple(int(arc) for arc in text.strip(".").split("."))


@pytest.fixture(scope="module")
def reg() -> Registry:
    return default_registry()


# Pinned by the reference compiler's output (module precedence included).
VECTORS = [
    ("pktcMtaDevEnabled", "1.3.6.1.4.1.4491.2.2.1.1.1.7"),
    ("pktcSigDevRgCadence", "1.3.6.1.2.1.169.1.1.13"),
    ("pktcSigDefCallSigTos.0", "1.3.6.1.4.1.4491.2.2.2.1.1.8.0"),
    ("pktcSigDefMediaStreamTos.0", "1.3.6.1.4.1.4491.2.2.2.1.1.9.0"),
    ("pktcNcsEndPntConfigCallAgentId.9", "1.3.6.1.4.1.4491.2.2.2.1.2.1.1.1.9"),
    ("pktcNcsEndPntConfigCallAgentUdpPort.9", "1.3.6.1.4.1.4491.2.2.2.1.2.1.1.2.9"),
    ("sysContact.0", "1.3.6.1.2.1.1.4.0"),
    ("sysLocation.0", "1.3.6.1.2.1.1.6.0"),
    ("docsDevNmAccessIp.1", "1.3.6.1.2.1.69.1.2.1.2.1"),
    ("docsDevEvReporting.4", "1.3.6.1.2.1.69.1.5.7.1.2.4"),
    ("ifAdminStatus.9", "1.3.6.1.2.1.2.2.1.7.9"),
    (
        "pktcMtaDevRealmOrgName.'BASIC.1'",
        "1.3.6.1.4.1.4491.2.2.1.1.3.16.1.4.66.65.83.73.67.46.49",
    ),
    ("PKTC-IETF-MTA-MIB::pktcMtaDevEnabled.0", "1.3.6.1.2.1.140.1.1.6.0"),
    ("enterprises.4491.2.2.1.1.1.18.0", "1.3.6.1.4.1.4491.2.2.1.1.1.18.0"),
    (".1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.4.0"),
    ("1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.4.0"),
    ("iso.3.6.1", "1.3.6.1"),
]


@pytest.mark.parametrize(("text", "oid"), VECTORS)
def test_resolve_vectors(reg: Registry, text: str, oid: str) -> None:
    assert reg.resolve(text) == dotted(oid)


@pytest.mark.parametrize(("text", "oid"), VECTORS)
def test_format_of_vectors_reads_back(reg: Registry, text: str, oid: str) -> None:
    assert reg.resolve(reg.format(dotted(oid))) == dotted(oid)


def test_duplicate_names_follow_folder_precedence(reg: Registry) -> None:
    default = reg.object("pktcMtaDevEnabled")
    assert default is not None and default.module == "PKTC-MTA-MIB"
    other = reg.object("PKTC-IETF-MTA-MIB::pktcMtaDevEnabled")
    assert other is not None and other.oid == dotted("1.3.6.1.2.1.140.1.1.6")
    assert reg.object("pktcSigDevRgCadence").module == "PKTC-IETF-SIG-MIB"  # type: ignore[union-attr]


def test_module_qualifier_on_format(reg: Registry) -> None:
    oid = dotted("1.3.6.1.2.1.140.1.1.6.0")
    assert reg.format(oid) == "PKTC-IETF-MTA-MIB::pktcMtaDevEnabled.0"
    assert reg.format(dotted("1.3.6.1.4.1.4491.2.2.1.1.1.7.0")) == "pktcMtaDevEnabled.0"


def test_string_indexes(reg: Registry) -> None:
    base = reg.resolve("pktcMtaDevRealmOrgName")
    # Single quotes: no length prefix; double quotes: length-prefixed.
    assert reg.resolve("pktcMtaDevRealmOrgName.'AB'") == base + (65, 66)
    assert reg.resolve('pktcMtaDevRealmOrgName."AB"') == base + (2, 65, 66)
    assert reg.resolve("ifAdminStatus.3.'ab'.\"c\"") == reg.resolve("ifAdminStatus") + (
        3, 97, 98, 1, 99,
    )
    # The realm table's index is IMPLIED, so output uses single quotes.
    assert reg.format(base + tuple(b"BASIC.1")) == "pktcMtaDevRealmOrgName.'BASIC.1'"
    # Unprintable or quote characters fall back to numbers.
    assert reg.format(base + (39, 1)) == "pktcMtaDevRealmOrgName.39.1"


def test_length_prefixed_index_formats_with_double_quotes(reg: Registry) -> None:
    # Find a column whose single INDEX is a variable-length, non-IMPLIED string.
    packed = reg._packed
    assert packed is not None
    for pos in range(packed.size):
        obj = packed.obj(pos)
        if (obj.kind == COLUMN and len(obj.index) == 1 and not obj.implied
                and obj.index[0].syntax == OCTET_STRING and obj.index[0].size is None):
            break
    else:
        pytest.fail("the MIB set has a column indexed by one length-prefixed string; the registry lost it")
    text = reg.format(obj.oid + (3, 97, 98, 99))
    assert text.endswith('."abc"')
    assert reg.resolve(text) == obj.oid + (3, 97, 98, 99)


def test_lookup_and_enums(reg: Registry) -> None:
    obj = reg.lookup(reg.resolve("ifAdminStatus.9"))
    assert obj is not None
    assert (obj.name, obj.module, obj.kind, obj.syntax) == ("ifAdminStatus", "IF-MIB", COLUMN, INTEGER)
    assert obj.access == "read-write"
    assert obj.enum_value("up") == 1 and obj.enum_label(2) == "down"
    assert obj.enum_value("sideways") is None and obj.enum_label(99) is None
    # ifIndex is InterfaceIndex, a TC of Integer32 (1..2147483647).
    assert obj.index == (IndexPart(INTEGER, None, ((1, 2147483647),)),) and not obj.implied
    bits = reg.object("docsDevEvReporting")
    assert bits is not None and bits.syntax == "BITS" and bits.enum_value("traps") == 1
    realm = reg.object("pktcMtaDevRealmOrgName")
    assert realm is not None and realm.implied and realm.index == (IndexPart(OCTET_STRING, None, ((1, 255),)),)
    assert realm.ranges == ((1, 64),)  # SIZE (1..64)
    assert reg.object("docsDevNmAccessIp").syntax == "IpAddress"  # type: ignore[union-attr]
    assert reg.lookup((2, 999, 1)) is None


def test_format_forms(reg: Registry) -> None:
    assert reg.format(dotted("1.3.6.1.2.1.1.4.0")) == "sysContact.0"
    assert reg.format(dotted("1.3.6.1.2.1.1.4.0"), numeric=True) == ".1.3.6.1.2.1.1.4.0"
    assert reg.format((2, 999, 1)) == ".2.999.1"  # no known prefix: keep the dot


@pytest.mark.parametrize("text", ["foo", "sysContactt.0", "NOPE-MIB::sysContact", "sys Contact"])
def test_unknown_names(reg: Registry, text: str) -> None:
    with pytest.raises(MibError):
        reg.resolve(text)


def test_unknown_name_message_and_hint(reg: Registry) -> None:
    with pytest.raises(MibError, match=r"unknown object name 'foo' \(not in the loaded MIB modules\)"):
        reg.resolve("foo.0")
    with pytest.raises(MibError, match="did you mean 'sysContact'"):
        reg.resolve("syscontact.0")  # names are case-sensitive
    with pytest.raises(MibError, match="did you mean 'sysContact'"):
        reg.resolve("sysContct.0")


@pytest.mark.parametrize(
    "text", ["", ".", "sysContact.", "sysContact..0", "sysContact.'abc", "sysContact.x", ".1.99999999999"]
)
def test_malformed(reg: Registry, text: str) -> None:
    with pytest.raises(MibError):
        reg.resolve(text)


ARCS = st.integers(min_value=0, max_value=2**32 - 1)
SMALL_ARCS = st.one_of(st.integers(min_value=0, max_value=130), ARCS)


@settings(max_examples=300, deadline=None)
@given(st.lists(ARCS, min_size=1, max_size=24))
def test_round_trip_random_oids(oid: list[int]) -> None:
    reg = default_registry()
    assert reg.resolve(reg.format(tuple(oid))) == tuple(oid)


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_round_trip_under_real_objects(data: st.DataObject) -> None:
    reg = default_registry()
    packed = reg._packed
    assert packed is not None
    base = packed.oid(data.draw(st.integers(min_value=0, max_value=packed.size - 1)))
    suffix = data.draw(st.lists(SMALL_ARCS, max_size=14))
    oid = base + tuple(suffix)
    assert reg.resolve(reg.format(oid)) == oid
    assert reg.resolve(reg.format(oid, numeric=True)) == oid


def test_every_default_object_round_trips(reg: Registry) -> None:
    packed = reg._packed
    assert packed is not None
    for pos in range(packed.size):
        oid = packed.oid(pos)
        assert reg.resolve(reg.format(oid)) == oid


def test_mibs_package_touches_no_files() -> None:
    """mibs is a pure data structure: whoever builds a registry reads the
    files (pktcable.mibdata for the bundled tables, pktcable.mibcache for user MIBs)."""
    import ast

    for path in sorted((ROOT / "mibs").glob("*.py")):
        if path.name.startswith("_data"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Name):
                names = [node.id] if node.id in ("open", "__loader__", "__file__") else []
            else:
                continue
            bad = [n for n in names if n.split(".")[0] in ("os", "io", "pathlib", "socket", "open", "__loader__",
                                                            "__file__", "logging", "time")]
            assert not bad, f"{path.name}:{node.lineno}: {bad}"


def test_fresh_import_reads_no_mib_text() -> None:
    code = (
        "import sys, mibs; mibs.default_registry().resolve('sysContact.0');"
        "assert 'pysmi' not in sys.modules and 'pktcable.mibcompile' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --------------------------------------------------------------------------
# User MIBs

VENDOR_MIB = """\
ACME-CABLE-MIB DEFINITIONS ::= BEGIN

IMPORTS
    MODULE-IDENTITY, OBJECT-TYPE, Integer32, enterprises
        FROM SNMPv2-SMI
    DisplayString, TruthValue
        FROM SNMPv2-TC;

acmeCableMib MODULE-IDENTITY
    LAST-UPDATED "202401010000Z"
    ORGANIZATION "Acme"
    CONTACT-INFO "none"
    DESCRIPTION  "Test module."
    ::= { enterprises 99999 }

acmeObjects OBJECT IDENTIFIER ::= { acmeCableMib 1 }

acmeEnabled OBJECT-TYPE
    SYNTAX      TruthValue
    MAX-ACCESS  read-write
    STATUS      current
    DESCRIPTION "x"
    ::= { acmeObjects 1 }

sysName OBJECT-TYPE
    SYNTAX      DisplayString
    MAX-ACCESS  read-write
    STATUS      current
    DESCRIPTION "Deliberately clashes with the standard sysName."
    ::= { acmeObjects 2 }

acmeProfileTable OBJECT-TYPE
    SYNTAX      SEQUENCE OF AcmeProfileEntry
    MAX-ACCESS  not-accessible
    STATUS      current
    DESCRIPTION "x"
    ::= { acmeObjects 3 }

acmeProfileEntry OBJECT-TYPE
    SYNTAX      AcmeProfileEntry
    MAX-ACCESS  not-accessible
    STATUS      current
    DESCRIPTION "x"
    INDEX       { acmeProfileId, IMPLIED acmeProfileName }
    ::= { acmeProfileTable 1 }

AcmeProfileEntry ::= SEQUENCE {
    acmeProfileId    Integer32,
    acmeProfileName  DisplayString,
    acmeProfileMode  INTEGER
}

acmeProfileId OBJECT-TYPE
    SYNTAX      Integer32 (1..16)
    MAX-ACCESS  not-accessible
    STATUS      current
    DESCRIPTION "x"
    ::= { acmeProfileEntry 1 }

acmeProfileName OBJECT-TYPE
    SYNTAX      DisplayString (SIZE (1..32))
    MAX-ACCESS  not-accessible
    STATUS      current
    DESCRIPTION "x"
    ::= { acmeProfileEntry 2 }

acmeProfileMode OBJECT-TYPE
    SYNTAX      INTEGER { off(0), fast(1), slow(2) }
    MAX-ACCESS  read-write
    STATUS      current
    DESCRIPTION "x"
    ::= { acmeProfileEntry 3 }

END
"""


@pytest.fixture()
def vendor_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "vendor"
    directory.mkdir()
    (directory / "acme-cable.mib").write_text(VENDOR_MIB)
    return directory


def test_user_mibs_layer_on_top(vendor_dir: Path, tmp_path: Path) -> None:
    from pktcable.mibcache import load_user_mibs

    records = load_user_mibs([str(vendor_dir)], cache_dir=str(tmp_path / "cache"))
    assert {r.module for r in records} == {"ACME-CABLE-MIB"}
    base = default_registry()
    reg = base.with_records(records)
    assert reg.resolve("acmeEnabled.0") == (1, 3, 6, 1, 4, 1, 99999, 1, 1, 0)
    assert reg.object("acmeEnabled").enum_value("true") == 1  # type: ignore[union-attr]
    mode = reg.object("acmeProfileMode")
    assert mode is not None
    assert [(p.syntax, p.size) for p in mode.index] == [(INTEGER, None), (OCTET_STRING, None)]
    assert mode.implied and mode.enum_label(2) == "slow"
    oid = reg.resolve("acmeProfileMode.3.'gold'")
    assert oid == (1, 3, 6, 1, 4, 1, 99999, 1, 3, 1, 3, 3, 103, 111, 108, 100)
    assert reg.format(oid) == "acmeProfileMode.3.'gold'"
    # The user's sysName wins for the bare name; the standard one stays reachable.
    assert reg.resolve("sysName") == (1, 3, 6, 1, 4, 1, 99999, 1, 2)
    standard = base.resolve("sysName.0")
    text = reg.format(standard)
    assert "::sysName.0" in text and reg.resolve(text) == standard
    assert base.resolve("sysName") != reg.resolve("sysName")  # base is untouched
    with pytest.raises(MibError):
        base.resolve("acmeEnabled")


def test_user_mib_cache_is_reused(vendor_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pysmi.compiler import MibCompiler

    from pktcable.mibcache import load_user_mibs

    cache = tmp_path / "cache"
    first = load_user_mibs([str(vendor_dir)], cache_dir=str(cache))
    assert list(cache.glob("*.json"))

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("compiled again despite a cache hit")

    monkeypatch.setattr(MibCompiler, "compile", refuse)
    assert load_user_mibs([str(vendor_dir)], cache_dir=str(cache)) == first
    # A changed file misses the cache and is compiled again.
    path = vendor_dir / "acme-cable.mib"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="compiled again"):
        load_user_mibs([str(vendor_dir)], cache_dir=str(cache))


def test_user_mib_cache_dir_default(vendor_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pktcable.mibcache import load_user_mibs

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    load_user_mibs([str(vendor_dir)])
    assert list((tmp_path / "xdg" / "pktcable" / "mibs").glob("*.json"))


def test_broken_user_mib_is_reported(tmp_path: Path) -> None:
    from pktcable.mibcache import load_user_mibs

    (tmp_path / "BAD-MIB").write_text("BAD-MIB DEFINITIONS ::= BEGIN\n  garbage here\nEND\n")
    with pytest.raises(MibError, match="BAD-MIB"):
        load_user_mibs([str(tmp_path)], cache_dir=str(tmp_path / "cache"))


def test_records_survive_json(vendor_dir: Path, tmp_path: Path) -> None:
    from pktcable.mibcompile import record_from_json, record_to_json

    obj = MibObject("x", "M", (1, 3), COLUMN, OCTET_STRING, (("a", 1),), "read-only",
                    (IndexPart(OCTET_STRING, 6), IndexPart(INTEGER, None, ((1, 16), (20, 20)))), True,
                    ranges=((-5, 7),))
    assert record_from_json(record_to_json(obj)) == obj


def test_an_oid_with_several_names_prints_as_net_snmp_does(reg: Registry) -> None:
    # RFC1158-MIB names 1.3.6.1.2.1.11.30 snmpEnableAuthTraps; SNMPv2-MIB,
    # loaded later, names it snmpEnableAuthenTraps, which docsis prints.
    assert reg.format(dotted("1.3.6.1.2.1.11.30.0")) == "snmpEnableAuthenTraps.0"
    assert reg.format(dotted("0.0")) == "zeroDotZero"
    assert reg.resolve("snmpEnableAuthTraps.0") == dotted("1.3.6.1.2.1.11.30.0")
    # A name repeated by a later module keeps its first module (IF-MIB).
    obj = reg.lookup(dotted("1.3.6.1.2.1.2.2.1.7.1"))
    assert obj is not None and obj.module == "IF-MIB"


def test_lookup_of_resolved_objects_matches_the_tree_index() -> None:
    """The shortcut for instances of objects resolved by name (no tree
    index) finds the record the full index finds, for leaves and inner nodes."""
    from mibs.packed import _Packed
    from mibs.registry import DATA_TABLES, tables_from_text
    from pktcable.mibdata import read_generated

    data = tables_from_text({file: read_generated(file) for file in DATA_TABLES})
    full = _Packed(data)
    full.longest_prefix((1,))  # builds the index
    assert full._children is not None
    shortcuts = 0
    for index in range(0, full.size, 61):
        fresh = _Packed(data)
        for suffix in ((), (0,), (5, 3), (1, 2, 3, 4, 5, 6)):
            oid = fresh.oid(index) + suffix
            assert fresh.longest_prefix(oid) == full.longest_prefix(oid), (index, oid)
            shortcuts += fresh._children is None
    assert shortcuts > 1000  # the shortcut was taken, not only the index

"""Device variables against the default templates: a value can fill its place
in the file and nothing else. Each typed filter checks its value's type; a
wrong one is an error naming the variable, never a file."""

from __future__ import annotations

from typing import Any

import jinja2
import jinja2.meta
import pytest

from pktcable.delivery.resolvers import BuildFailed, InMemoryDevices, TemplateResolver
from pktcable.store.devices import Device
from pktcable.templates import FILTERS, ValueTypeError, environment
from tlv.config import compile_text, decode_file, format_file

HOSTILE = '2727;\n SnmpMibObject sysContact.0 String "x"'
DEVICE_FIELDS = {"flow"}  # facts that come from the device record, not its vars


def variables(template: str) -> list[str]:
    env = environment()
    source = env.loader.get_source(env, template)[0]  # type: ignore[union-attr]
    return sorted(jinja2.meta.find_undeclared_variables(env.parse(source)))


CASES = [(t, v) for t in ("cm.txt", "mta.txt") for v in variables(t)]


def device(template: str, **facts: Any) -> Device:
    kind = template.split(".")[0]
    fields = {k: facts.pop(k) for k in DEVICE_FIELDS & set(facts)}
    return Device("0a0000000001", kind=kind, template=template, vars=facts,
                  **{"flow": "BASIC.1" if kind == "mta" else "", **fields})


@pytest.mark.parametrize("template, variable", CASES, ids=[f"{t}:{v}" for t, v in CASES])
def test_statement_injected_through_any_variable_of_a_default_template_is_an_error(template: str,
                                                                                    variable: str) -> None:
    resolver = TemplateResolver(InMemoryDevices(), cm_key=b"k")
    resolver.build(device(template))  # the template builds with its defaults
    with pytest.raises(BuildFailed) as caught:
        resolver.build(device(template, **{variable: HOSTILE}))
    assert f"variable {variable}" in caught.value.reason


def test_every_default_template_variable_is_covered() -> None:
    """The injection test above runs over the variables the templates read; it must see the known ones."""
    assert {"max_cpe", "upstream_rate", "downstream_rate", "contact"} <= set(variables("cm.txt"))
    assert {"call_agent", "call_agent_port", "lines", "org_name", "realm", "flow"} <= set(variables("mta.txt"))


def test_line_count_beyond_its_bound_is_refused_not_rendered() -> None:
    resolver = TemplateResolver(InMemoryDevices())
    with pytest.raises(BuildFailed, match="variable lines"):
        resolver.build(device("mta.txt", lines=100))


@pytest.mark.parametrize("name, value", [
    ("integer", "7; NetworkAccess 0"), ("integer", True), ("integer", 1.5), ("integer", [1]), ("integer", "0x10"),
    ("quoted", "a\nb"), ("quoted", "a\rNetworkAccess 0;"), ("quoted", {"a": 1}), ("quoted", None),
    ("ip", "10.0.0.1; NetworkAccess 0"), ("ip", 167772161), ("ip", "10.0.0.256"),
    ("mac", "00:11:22:33:44:55; x"), ("mac", "00:11-22:33:44:55"), ("mac", 0x001122334455),
    ("index", "A'; NetworkAccess 0"), ("index", ""), ("index", "x" * 101), ("index", "A\nB"),
])
def test_typed_filter_refuses_a_value_of_another_type(name: str, value: Any) -> None:
    with pytest.raises(ValueTypeError):
        FILTERS[name](value)


def test_integer_filter_bounds() -> None:
    assert FILTERS["integer"]("42", 1, 64) == "42"
    with pytest.raises(ValueTypeError, match="outside 1..64"):
        FILTERS["integer"](65, 1, 64)


def test_typed_values_compile_to_what_was_given(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    env = environment(loader=jinja2.DictLoader({"t.txt": (
        "Main { NetworkAccess 1; MaxCPE {{ n | integer(1, 254) }};"
        " SnmpMibObject sysContact.0 String {{ s | quoted }};"
        " SnmpMibObject sysLocation.0 String {{ raw | q }};"
        " CpeMacAddress {{ m | mac }};"
        " SnmpMibObject ipAdEntAddr.{{ a | ip }} IPAddress {{ a | ip }}; }")}))
    text = env.get_template("t.txt").render(n="3", s='say "hi" there', raw="a\nb", m="0011.2233.4455", a="10.1.2.3")
    out = format_file(decode_file(compile_text(text, ctx=mib_ctx, key=b"k")), mib_ctx)
    assert "MaxCPE 3;" in out and '"say \\"hi\\"' in out and "00:11:22:33:44:55" in out and "10.1.2.3" in out


def test_realm_index_is_written_as_a_quoted_oid_index(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    data = TemplateResolver(InMemoryDevices()).build(device("mta.txt", realm="EXAMPLE.NET", lines=1))
    assert "pktcMtaDevRealmOrgName.'EXAMPLE.NET'" in format_file(decode_file(data), mib_ctx)


def test_undefined_variable_is_still_an_undefined_error_not_a_type_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        environment().get_template("mta.txt").render(mac="001122334455")  # no flow

"""``pktcable firmware rule``: the rollout rules of a data dir's (or PostgreSQL store's)
firmware store, as the API's ``/firmware-rules`` keeps them (docs/firmware.md). A serve
running on the same store reads a change within seconds."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import TYPE_CHECKING

import click

from pktcable.exitcodes import ExitStatus

from .common import fail
from .firmware import _catalogue, catalogue_options

if TYPE_CHECKING:
    from pktcable.firmware.rules import Rule
    from pktcable.store.firmware import FirmwareStore

json_option = click.option("--json", "as_json", is_flag=True, help="Print the rule as one JSON object.")


@click.group("rule")
def rule_group() -> None:
    """Rollout rules: which catalogued image the devices of a vendor, model and hardware
    version are offered (in their CM file's TLV 9/21/32/33), to what share of them, in
    which UTC window; paused, resumed and rolled back to the image before.

    Examples:

    \b
      pktcable firmware rule add --data-dir /var/lib/pktcable --vendor "Example Vendor" --model EX-100 --image ex100-2.0.p7 --percent 10 ex100
      pktcable firmware rule list --data-dir /var/lib/pktcable
    """


def _version(store: FirmwareStore, image: str) -> str:
    found = store.get(image)
    if found is None:
        fail(f"--image: {image!r} is not in the firmware catalogue (pktcable firmware list)", ExitStatus.USAGE)
    return found.version


def _macs(given: tuple[str, ...]) -> tuple[str, ...]:
    from pktcable.store.devices import normalize_mac

    try:
        return tuple(sorted({normalize_mac(m) for m in given}))
    except ValueError as exc:
        fail(f"--mac: {exc}", ExitStatus.USAGE)


def _show(rule: Rule, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rule.to_json()))
        return
    match = "/".join((rule.vendor, rule.model, rule.hw_version))
    stage = f"{rule.percent}%" + (f" + {len(rule.macs)} listed" if rule.macs else "")
    click.echo(f"{rule.name}\t{rule.state}\t{match}\t{rule.target} ({rule.target_version})\t{stage}\t"
               f"window {rule.window or 'always'}\tfrom {','.join(rule.from_versions) or 'any'}\t"
               f"previous {rule.previous or '-'}")


def _stored(store: FirmwareStore, name: str) -> Rule:
    rule = store.rule(name)
    if rule is None:
        fail(f"no firmware rule {name!r} (pktcable firmware rule list)", ExitStatus.INVALID)
    return rule


@rule_group.command("add")
@catalogue_options
@click.argument("name")
@click.option("--vendor", default="*", show_default=True, help="The devices' vendor name (option 43.10), '*' for any.")
@click.option("--model", default="*", show_default=True, help="Their model number (option 43.9), '*' for any.")
@click.option("--hw-version", default="*", show_default=True, help="Their hardware version (option 43.5), '*' for any.")
@click.option("--image", required=True, help="The catalogued image offered: its file name (pktcable firmware list).")
@click.option("--from-version", "from_versions", multiple=True,
              help="Only devices running this version (repeat for several; default: any).")
@click.option("--percent", type=click.IntRange(0, 100), default=100, show_default=True,
              help="The share of matching devices in the rollout (raising it only adds devices).")
@click.option("--mac", "macs", multiple=True, help="A device in the rollout whatever the percentage (repeatable).")
@click.option("--window", default="", help="UTC hh:mm-hh:mm in which upgrades are offered, e.g. 02:00-05:00 "
              "(default: always).")
@click.option("--paused", is_flag=True, help="Add the rule paused (resume it to start).")
@json_option
def add_cmd(data_dir: str | None, store_url: str | None, name: str, vendor: str, model: str, hw_version: str,
            image: str, from_versions: tuple[str, ...], percent: int, macs: tuple[str, ...], window: str,
            paused: bool, as_json: bool) -> None:
    """Add the rollout rule NAME: devices matching --vendor, --model and --hw-version are
    offered --image; the most specific matching rule governs a device.

    Examples:

    \b
      pktcable firmware rule add --data-dir /var/lib/pktcable --vendor "Example Vendor" --model EX-100 --image ex100-2.0.p7 --percent 10 ex100
      pktcable firmware rule add --data-dir /var/lib/pktcable --vendor "Example Vendor" --model EX-100 --image ex100-2.0.p7 --from-version 1.0 --window 02:00-05:00 --mac 00:11:22:33:44:55 --percent 0 ex100-pilot
    """
    from pktcable.firmware.rules import Rule, RuleError
    from pktcable.store.fwrules import RuleExists

    with _catalogue(data_dir, store_url) as store:
        try:
            rule = Rule(name, vendor, model, hw_version, image, _version(store, image), tuple(from_versions), percent,
                        _macs(macs), window, "paused" if paused else "active", updated=time.time())
        except RuleError as exc:
            fail(f"--{exc.field.replace('_', '-')}: {exc.reason}", ExitStatus.USAGE)
        try:
            store.add_rule(rule)
        except RuleExists as exc:
            fail(str(exc), ExitStatus.INVALID)
    _show(rule, as_json)


@rule_group.command("list")
@catalogue_options
@click.option("--json", "as_json", is_flag=True, help="Print the rules as one JSON array.")
def list_cmd(data_dir: str | None, store_url: str | None, as_json: bool) -> None:
    """List the rollout rules: name, state, what they match, the image and its version, the
    stage, the window, the versions they upgrade from and the previous target.

    Examples:

    \b
      pktcable firmware rule list --data-dir /var/lib/pktcable
      pktcable firmware rule list --data-dir /var/lib/pktcable --json
    """
    with _catalogue(data_dir, store_url) as store:
        rules = store.rules()
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rules]))
        return
    for rule in rules:
        _show(rule, False)


@rule_group.command("set")
@catalogue_options
@click.argument("name")
@click.option("--image", help="Offer this catalogued image instead (the one before becomes the rollback target).")
@click.option("--percent", type=click.IntRange(0, 100), help="The rollout's new share of matching devices.")
@click.option("--window", help="The new UTC window hh:mm-hh:mm ('' for always).")
@click.option("--mac", "macs", multiple=True, help="The devices in the rollout whatever the percentage, in place "
              "of the rule's list (repeatable).")
@click.option("--from-version", "from_versions", multiple=True,
              help="The versions it upgrades from, in place of the rule's (repeatable).")
@json_option
def set_cmd(data_dir: str | None, store_url: str | None, name: str, image: str | None, percent: int | None,
            window: str | None, macs: tuple[str, ...], from_versions: tuple[str, ...], as_json: bool) -> None:
    """Change the rollout rule NAME: its image, its stage, its window, its lists.

    Examples:

    \b
      pktcable firmware rule set --data-dir /var/lib/pktcable --percent 50 ex100
      pktcable firmware rule set --data-dir /var/lib/pktcable --image ex100-2.1.p7 --window 01:00-04:00 ex100
    """
    from pktcable.firmware.rules import RuleError

    with _catalogue(data_dir, store_url) as store:
        rule = _stored(store, name)
        now = time.time()
        try:
            rule = dataclasses.replace(rule, percent=rule.percent if percent is None else percent,
                                       window=rule.window if window is None else window,
                                       macs=_macs(macs) if macs else rule.macs,
                                       from_versions=tuple(from_versions) if from_versions else rule.from_versions,
                                       updated=now)
            if image is not None:
                rule = rule.retarget(image, _version(store, image), now)
        except RuleError as exc:
            fail(f"--{exc.field.replace('_', '-')}: {exc.reason}", ExitStatus.USAGE)
        store.put_rule(rule)
    _show(rule, as_json)


def _act(data_dir: str | None, store_url: str | None, name: str, action: str, as_json: bool) -> None:
    from pktcable.firmware.rules import RuleError

    with _catalogue(data_dir, store_url) as store:
        rule = _stored(store, name)
        now = time.time()
        if action == "rollback":
            try:
                rule = rule.rolled_back(now)
            except RuleError as exc:
                fail(exc.reason, ExitStatus.INVALID)
            rule = dataclasses.replace(rule, target_version=_version(store, rule.target))
        else:
            rule = dataclasses.replace(rule, state="paused" if action == "pause" else "active", updated=now)
        store.put_rule(rule)
    _show(rule, as_json)


@rule_group.command("pause")
@catalogue_options
@click.argument("name")
@json_option
def pause_cmd(data_dir: str | None, store_url: str | None, name: str, as_json: bool) -> None:
    """Pause the rollout rule NAME: its devices are offered nothing (and no less specific rule
    takes them over) until it is resumed.

    Examples:

    \b
      pktcable firmware rule pause --data-dir /var/lib/pktcable ex100
      pktcable firmware rule pause --store postgresql:///pktcable?host=/run/postgresql ex100
    """
    _act(data_dir, store_url, name, "pause", as_json)


@rule_group.command("resume")
@catalogue_options
@click.argument("name")
@json_option
def resume_cmd(data_dir: str | None, store_url: str | None, name: str, as_json: bool) -> None:
    """Resume the paused rollout rule NAME.

    Examples:

    \b
      pktcable firmware rule resume --data-dir /var/lib/pktcable ex100
      pktcable firmware rule resume --data-dir /var/lib/pktcable --json ex100
    """
    _act(data_dir, store_url, name, "resume", as_json)


@rule_group.command("rollback")
@catalogue_options
@click.argument("name")
@json_option
def rollback_cmd(data_dir: str | None, store_url: str | None, name: str, as_json: bool) -> None:
    """Roll the rule NAME back: it offers its previous image again (which must still be
    catalogued), and the image it offered becomes the previous one.

    Examples:

    \b
      pktcable firmware rule rollback --data-dir /var/lib/pktcable ex100
      pktcable firmware rule rollback --data-dir /var/lib/pktcable --json ex100
    """
    _act(data_dir, store_url, name, "rollback", as_json)


@rule_group.command("remove")
@catalogue_options
@click.argument("name")
def remove_cmd(data_dir: str | None, store_url: str | None, name: str) -> None:
    """Remove the rollout rule NAME (its devices fall to the next matching rule, or none).

    Examples:

    \b
      pktcable firmware rule remove --data-dir /var/lib/pktcable ex100-pilot
      pktcable firmware rule remove --store postgresql:///pktcable?host=/run/postgresql ex100-pilot
    """
    with _catalogue(data_dir, store_url) as store:
        if not store.delete_rule(name):
            fail(f"no firmware rule {name!r} (pktcable firmware rule list)", ExitStatus.INVALID)

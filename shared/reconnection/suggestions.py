"""What a person is told of their found contacts: the messages, cut to the network's length,
the names of their packs, Bridgy Fed addresses, and the following list to import."""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from shared.bot.messages import CATALOG, Lang, say

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from shared.vocabulary import Network


class PackLink(NamedTuple):
    """A pack as a message names it."""

    url: str | None
    """Where the person opens it (``None``: nowhere to link to)."""
    members: int
    """How many of the person's contacts it holds."""
    shared: bool
    """Shared by many people, not the person's own."""


class PackName(NamedTuple):
    name: str
    """50 graphemes at most."""
    description: str


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact as a person will find them on one network."""

    person: int
    subject: str | None
    """Their account there; ``None`` when they are reached through the bridge."""
    address: str
    """What the person types: a handle, ``@user@server``, or the Bridgy Fed address."""


BATCH_WRITES = 200
"""Writes one atomic batch may hold (``com.atproto.repo.applyWrites``)."""
CSV_HEADER = ("Account address", "Show boosts", "Notify on new posts", "Languages")
"""Mastodon's following-list import format (Preferences > Import and export)."""


def pack_name(lang: Lang, shared: bool, part: int) -> PackName:
    """A pack's name and description."""
    name = say("pack.shared" if shared else "pack.own", lang)
    if part > 1:
        name = f"{name} ({part})"
    return PackName(name, say("pack.shared_about" if shared else "pack.own_about", lang))


def compose(
    *,
    lang: Lang,
    first: bool,
    packs: list[PackLink],
    addresses: list[Contact],
    csv_link: str | None,
    network: Network,
    room: int,
    space: bool = False,
) -> list[str]:
    """The messages telling a person of their contacts on ``network``: how many (all of them
    at first, what is new after), the links of the packs that hold them (``packs``: link,
    how many of theirs, shared or their own), the addresses; each ``room`` characters at
    most, as many as it takes. With a following list to import (``csv_link``) or a space
    that lists them all (``space``), the addresses are not a thread: as many as fit, and
    where the rest are."""
    count = sum(n for _, n, _ in packs) + len(addresses)
    where = say(f"network.{network}", lang)
    opening = _counted("suggest.first" if first else "suggest.new", count)
    lines = [say(opening, lang, count=count, network=where)]
    own = 0
    for url, members, shared in packs:  # their own packs first
        if url is None:
            continue
        if shared:
            lines.append(say("suggest.shared", lang, url=url, count=members))
            continue
        key = _counted("suggest.pack", members) if own == 0 else "suggest.pack_more"
        lines.append(say(key, lang, url=url, count=members))
        own += 1
    native = [c.address for c in addresses if c.subject is not None]
    bridged = [c.address for c in addresses if c.subject is None]
    groups = [(say(key, lang), found) for key, found in
              (("suggest.follow", native), ("suggest.bridge", bridged)) if found]  # fmt: skip
    listed = [line for heading, found in groups for line in (heading, *found)]
    if csv_link is not None:
        download = say("suggest.csv", lang, url=csv_link)
        messages = _split([*lines, *listed, download], room)
        if len(messages) == 1:
            return messages
        # The list holds them all: one message with the first addresses and the list's
        # link, rather than a thread of addresses (each one more status of the bot's budget).
        in_list = functools.partial(_more, "suggest.more", lang)
        return [_with_the_list([*lines, download], groups, in_list, room)]
    messages = _split([*lines, *listed], room)
    told = _split(lines, room)  # the opening and the packs: all of it is said
    if space and len(told) > 1:
        # Their space lists their packs too: those that fit in one message and where the
        # rest are, rather than a thread of links (each one more post of the bot's budget).
        return [_packs_in_one(lines[0], lines[1:], len(addresses), lang, room)]
    if not space or len(messages) <= len(told):
        return messages
    # Their space lists them all: the addresses that fit beside the packs, and how many
    # more, rather than a thread of addresses (each one more post of the bot's budget).
    command = say("command.space", lang)
    in_space = functools.partial(_more, "suggest.more_space", lang, command=command)
    last = told[-1]
    if len(last) + 1 + len(in_space(len(addresses))) > room:
        return [*told, _with_the_list([], groups, in_space, room)]
    return [*told[:-1], _with_the_list([last], groups, in_space, room)]


def _packs_in_one(opening: str, packs: list[str], addresses: int, lang: Lang, room: int) -> str:
    """The opening, as many of the ``packs`` lines as fit in one message, and how many more
    packs (and ``addresses``) the person's space holds."""
    command = say("command.space", lang)
    listed = say(_counted("suggest.addresses_left", addresses), lang, count=addresses)
    key = "suggest.rest_in_space.addresses" if addresses else "suggest.rest_in_space"
    message = opening
    for shown in range(len(packs) - 1, -1, -1):  # they do not all fit: that is why we are here
        left = len(packs) - shown
        more = say(_counted("suggest.packs_left", left), lang, count=left)
        rest = say(key, lang, packs=more, addresses=listed, command=command)
        message = "\n".join([opening, *packs[:shown], rest])
        if len(message) <= room:
            return message
    return message[:room]


def _with_the_list(
    lines: list[str], groups: list[tuple[str, list[str]]], more: Callable[[int], str], room: int
) -> str:
    """``lines``, then as many addresses as fit in one message, and how many more there
    are (``more``: where they all are)."""
    total = sum(len(found) for _, found in groups)
    kept: list[str] = []
    shown = 0

    def message(extra: list[str], left: int) -> str:
        return "\n".join([*lines, *kept, *extra, *([more(left)] if left else [])])

    for heading, found in groups:
        for n, address in enumerate(found):
            extra = [heading, address] if n == 0 else [address]
            if len(message(extra, total - shown - 1)) > room:
                return message([], total - shown)[:room]
            kept += extra
            shown += 1
    return message([], 0)[:room]


def _more(key: str, lang: Lang, left: int, **values: str) -> str:
    return say(key, lang, count=left, **values)


def _counted(key: str, count: int) -> str:
    """The message for one, where the language says it apart."""
    return f"{key}.one" if count == 1 and f"{key}.one" in CATALOG else key


def _split(lines: Iterable[str], room: int) -> list[str]:
    """Lines gathered into messages of ``room`` characters at most (a line never cut unless
    it alone is longer)."""
    messages: list[str] = []
    current = ""
    for line in lines:
        line = line if len(line) <= room else line[: room - 1] + "…"
        joined = f"{current}\n{line}" if current else line
        if len(joined) <= room:
            current = joined
            continue
        messages.append(current)
        current = line
    if current:
        messages.append(current)
    return messages


def following_csv(addresses: Iterable[str]) -> str:
    """A following list in Mastodon's import format: one ``user@server`` a line, boosts
    shown, no notifications, no language filter."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for address in addresses:
        writer.writerow((address.removeprefix("@"), "true", "false", ""))
    return out.getvalue()

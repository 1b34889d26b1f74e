"""Timestamp identifiers (TIDs), the record keys of posts, made deterministic per action.

A TID is 64 bits: a zero top bit, 53 bits of microseconds since the epoch and a 10-bit clock
id, written in base32-sortable. https://atproto.com/specs/tid
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
LENGTH = 13
CLOCK_IDS = 1024


def tid(moment: datetime, clock_id: int) -> str:
    """The TID of ``moment`` with ``clock_id`` (taken modulo 1024)."""
    return tid_of(int(moment.timestamp() * 1_000_000), clock_id)


def tid_of(micros: int, clock_id: int) -> str:
    """The TID of ``micros`` since the epoch with ``clock_id`` (taken modulo 1024)."""
    if not 0 <= micros < 2**53:
        raise ValueError(f"{micros} microseconds is outside what a TID can hold")
    value = (micros << 10) | (clock_id % CLOCK_IDS)
    return "".join(ALPHABET[(value >> (5 * (LENGTH - 1 - i))) & 31] for i in range(LENGTH))

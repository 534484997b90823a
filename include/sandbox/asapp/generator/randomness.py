"""Seeded randomness: every entity draws from its own generator, named by seed and purpose.

Named streams make a row depend only on (seed, what it describes), never on how many random
numbers something else consumed first, so output is reproducible and parts can be derived on
demand (a customer from its index) instead of being kept in memory.
"""

import itertools
import random

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def stream(seed: int, *purpose: object) -> random.Random:
    """A generator for one purpose; str seeds are hashed with SHA-512, independent of PYTHONHASHSEED."""
    return random.Random(":".join(str(part) for part in (seed, *purpose)))


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def uuid4(rng: random.Random) -> str:
    """str(uuid.UUID(int=rng.getrandbits(128), version=4)), without the object (it is drawn per row)."""
    digits = f"{(rng.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def ulid(rng: random.Random, ms: int) -> str:
    """A ULID (48-bit time, 80 random bits, Crockford base32), the shape of AI-Services conversation ids."""
    value = (ms << 80) | rng.getrandbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def hex_id(rng: random.Random, length: int) -> str:
    return f"{rng.getrandbits(4 * length):0{length}X}"


class Weighted:
    """A fixed weighted choice ({value: weight}), prepared once because it is drawn per row."""

    def __init__(self, weights: dict) -> None:
        self.values = list(weights)
        self.cumulative = list(itertools.accumulate(weights.values()))

    def pick(self, rng: random.Random):
        return rng.choices(self.values, cum_weights=self.cumulative)[0]

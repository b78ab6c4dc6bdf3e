"""How a sweep reads its lists: seeds (``"0-4,10"``), comma-separated tasks and planners,
and the entries of a :class:`~cemgd.sweep.SweepConfig` (each once)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cemgd.validate import MAX_SEEDS, check_distinct, check_seed


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-19"``, ``"0,1,5"`` or both (``"0-4,10"``) -> seeds in the order given, each an
    int in ``[0, 2**32 - 1]`` (:func:`cemgd.validate.check_seed`), none twice.

    Raises:
        ValueError: naming ``seeds`` and the bad item, or the seed given twice.
    """
    seeds: dict[int, str] = {}
    for item in (s.strip() for s in str(text).split(",")):
        if not item:
            continue
        low, dash, high = item.partition("-")
        try:
            a = int(low)
            b = int(high) if dash else a
        except ValueError:
            raise ValueError(
                f"seeds: expected integers like '0-19' or '0,1,5', got {item!r}"
            ) from None
        if a < 0 or b < a:
            raise ValueError(f"seeds: expected 0 <= first <= last in {item!r}")
        check_seed("seeds", b)
        if b - a + 1 + len(seeds) > MAX_SEEDS:
            raise ValueError(f"seeds: {item!r} takes the sweep past {MAX_SEEDS} seeds")
        for seed in range(a, b + 1):
            if seed in seeds:
                raise ValueError(f"seeds: seed {seed} is given twice ({seeds[seed]!r} and "
                                 f"{item!r}); give each once (its runs would run twice)")
            seeds[seed] = item
    if not seeds:
        raise ValueError(f"seeds: no seed in {text!r}")
    return tuple(seeds)


def format_seeds(seeds: Sequence[int]) -> str:
    """Inverse of :func:`parse_seeds`: ``(0, 1, 2, 5)`` -> ``"0-2,5"``."""
    runs: list[list[int]] = []
    for seed in seeds:
        if runs and runs[-1][1] == seed - 1:
            runs[-1][1] = seed
        else:
            runs.append([seed, seed])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def parse_list(name: str, texts: str | Sequence[str]) -> tuple[str, ...]:
    """``"a,b"`` (or ``["a,b", "c"]``) -> ``("a", "b", "c")``; ValueError naming ``name``
    if empty.

    An item holding ``=`` but no ``:`` continues the previous planner spec, so
    ``"cem-gd:n_replan=20,top_k=2,cem-50"`` is ``("cem-gd:n_replan=20,top_k=2", "cem-50")``.
    """
    items: list[str] = []
    for text in [texts] if isinstance(texts, str) else texts:
        for item in (s.strip() for s in str(text).split(",")):
            if not item:
                continue
            if "=" in item and ":" not in item and items and ":" in items[-1]:
                items[-1] += "," + item
            else:
                items.append(item)
    if not items:
        raise ValueError(f"{name}: expected a comma-separated list, got {texts!r}")
    return tuple(items)


def distinct_entries(name: str, value: Any, parse: Callable[[Any], Any] = lambda x: x,
                     text: Callable[[Any], str] = repr) -> tuple[Any, ...]:
    """``value``'s items, each ``parse``d, as a non-empty tuple in which no item equals
    another (two equal tasks, planners or seeds would be one run twice).

    Raises:
        ValueError: naming ``name``: not a sequence, empty, or an item repeated (both as
            given, ``text(item)``).
    """
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"{name}: expected a sequence, got {value!r}")
    items = [parse(item) for item in value]
    check_distinct(name, items, what=name.rstrip("s"), show=text)
    if not items:
        raise ValueError(f"{name}: expected at least one entry")
    return tuple(items)

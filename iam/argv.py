"""Global options anywhere on the command line, as kubectl and gh accept them.

Admins type `iam offboard jdoe --config f.yaml` as readily as `iam --config
f.yaml offboard jdoe`. click only reads a group's options before the
subcommand, so the root group lifts them to the front first: one mechanism
for every command, present and future.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def lift_global_options(args: Sequence[str], valued: Collection[str], flags: Collection[str]) -> list[str]:
    """``args`` with the global options moved to the front, in their order; the rest keeps its order.

    ``valued`` options take the next word (or ``--name=value``); ``flags`` take none.
    Nothing after ``--`` is touched: it is an argument, whatever it looks like.
    """
    lifted: list[str] = []
    rest: list[str] = []
    words = list(args)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            rest.extend(words[i:])
            break
        name = word.split("=", 1)[0]
        if word in flags or (name in valued and "=" in word):
            lifted.append(word)
        elif word in valued and i + 1 < len(words):
            lifted.extend(words[i : i + 2])
            i += 1
        else:
            rest.append(word)
        i += 1
    return lifted + rest

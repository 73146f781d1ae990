"""A short way through the command line for a well-formed call of one of the core commands (``perf ... --json``).

Typer converts option values with pydantic, and importing pydantic costs more than the prediction itself.
:func:`run` reads the options of the one command being run from the same Typer definitions (so names,
aliases and defaults cannot drift), converts plain values (``--gpus 4``, ``--isl=2048``, ``--json``) as Typer
does, checks every number against the same limits (:func:`~inferonomics.cli.guard_numbers`) and calls the
same command.  Anything else (``--help``, an unknown or repeated option, a value that is not a plain number,
a number out of range, a missing option) is declined before anything has run, and the caller runs the call
through Typer, which prints the same message it always does.  The outcome of a call never depends on which
way it went.

The command groups of later capabilities (provider, decide, market...) are registered on the root app the
first time anything looks at its commands (:func:`deferred_groups_typer`): a core command does not pay
~15 ms for importing them, and ``--help``, the other commands and every use of ``app`` see all of them.
"""

from __future__ import annotations

import re
from typing import Any


def deferred_groups_typer(typer_cls):
    """A subclass of ``typer.Typer`` whose ``registered_commands`` / ``registered_groups`` first register the
    command groups named by ``defer`` (each module's ``register(app)``; a module that is not there is
    skipped)."""

    class DeferredGroups(typer_cls):
        _pending: tuple[str, ...] = ()

        def defer(self, package: str, names: tuple[str, ...]) -> None:
            self._pending = tuple(f"{package}.{n}" for n in names)

        def _register_pending(self) -> None:
            import importlib
            import importlib.util

            pending, self._pending = self._pending, ()
            for mod in pending:
                if importlib.util.find_spec(mod) is not None:
                    importlib.import_module(mod).register(self)

        @property
        def registered_commands(self):
            if self._pending:
                self._register_pending()
            return self.__dict__["registered_commands"]

        @registered_commands.setter
        def registered_commands(self, value) -> None:
            self.__dict__["registered_commands"] = value

        @property
        def registered_groups(self):
            if self._pending:
                self._register_pending()
            return self.__dict__["registered_groups"]

        @registered_groups.setter
        def registered_groups(self, value) -> None:
            self.__dict__["registered_groups"] = value

    return DeferredGroups


_INT = re.compile(r"[0-9]+")
_FLOAT = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_SIMPLE = (str, int, float, bool)
_NOT_GIVEN = object()


class _Unusual(Exception):
    """A call the short way does not take: Typer runs it instead."""


def _command(callback, path: tuple[str, ...], typer_app):
    """The Typer command of one callback, with the number checks of :func:`guard_numbers`."""
    import typer.main
    from typer.models import CommandInfo

    from inferonomics.cli import guard_numbers

    cmd = typer.main.get_command_from_info(
        CommandInfo(callback=callback), pretty_exceptions_short=typer_app.pretty_exceptions_short,
        rich_markup_mode=typer_app.rich_markup_mode,
    )
    for p in cmd.params:
        ann = getattr(getattr(p, "type_descriptor", None), "annotation", None)
        if (getattr(p, "param_type_name", None) != "option" or ann not in _SIMPLE or p.nargs != 1 or p.multiple
                or p.envvar is not None or p.callback is not None or p.is_eager or callable(p.default)
                or getattr(p, "count", False) or (ann is bool) != bool(getattr(p, "is_flag", False))):
            raise _Unusual
    guard_numbers(cmd, path)
    return cmd


def _value(ann: type, raw: str) -> Any:
    if raw.startswith("-"):  # an option where a value should be, or a negative number: Typer says what is wrong
        raise _Unusual
    if ann is int:
        if not _INT.fullmatch(raw):
            raise _Unusual
        return int(raw)
    if ann is float:
        if not _FLOAT.fullmatch(raw):
            raise _Unusual
        return float(raw)
    return raw


def _parse(cmd, args: list[str], stop_at_word: bool = False) -> tuple[dict[str, Any], list[str]]:
    """The values of ``cmd``'s options in ``args`` (the rest, from the first word, when ``stop_at_word``)."""
    by_opt = {}
    for p in cmd.params:
        for o in p.opts:
            by_opt[o] = (p, True)
        for o in p.secondary_opts:
            by_opt[o] = (p, False)
    given: dict[str, Any] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-") or a == "-":
            if stop_at_word:
                break
            raise _Unusual
        name, eq, raw = a.partition("=")
        if name not in by_opt or (eq and not name.startswith("--")):
            raise _Unusual
        p, primary = by_opt[name]
        if p.name in given:
            raise _Unusual
        ann = p.type_descriptor.annotation
        if ann is bool:
            if eq:
                raise _Unusual
            given[p.name] = primary
            i += 1
            continue
        if not eq:
            if i + 1 >= len(args):
                raise _Unusual
            raw = args[i + 1]
            i += 1
        given[p.name] = _value(ann, raw)
        i += 1
    values = {}
    for p in cmd.params:
        v = given.get(p.name, _NOT_GIVEN)
        if v is _NOT_GIVEN:
            if p.required:
                raise _Unusual
            v = p.default
            if p.type_descriptor.annotation is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
        if p.callback is not None:  # the range checks (guard_numbers): a value out of range goes through Typer
            from inferonomics.errors import InferonomicsError

            try:
                v = p.callback(None, p, v)
            except InferonomicsError:
                raise _Unusual from None
        values[p.name] = v
    return values, args[i:]


def run(typer_app, commands, argv: list[str]) -> tuple[bool, Any]:
    """Run ``argv`` the short way: ``(True, what the command returned)``, or ``(False, None)`` when Typer
    must run it (nothing has run then).  ``commands``: the command infos this may run."""
    import os

    if any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):  # shell completion: Typer's
        return False, None
    if os.name == "nt" and any(c in a for a in argv for c in "*?["):  # Typer expands wildcards on Windows
        return False, None
    try:
        if typer_app.registered_callback is None or typer_app.registered_callback.callback is None:
            raise _Unusual
        root = _command(typer_app.registered_callback.callback, (), typer_app)
        root_values, rest = _parse(root, argv, stop_at_word=True)
        if not rest:
            raise _Unusual
        info = next((c for c in commands if c.callback is not None and (c.name or c.callback.__name__) == rest[0]),
                    None)
        if info is None or info.context_settings:
            raise _Unusual
        cmd = _command(info.callback, (rest[0],), typer_app)
        values, _ = _parse(cmd, rest[1:])
    except (_Unusual, AttributeError, ImportError, TypeError):  # the last three: a Typer built differently
        return False, None
    return True, _invoke(root.callback, root_values, cmd.callback, values)


def _invoke(root, root_values: dict, command, values: dict) -> Any:
    """The root callback, then the command, with the exceptions handled as Typer's ``main`` handles them."""
    import errno
    import sys

    from typer import Abort, Exit

    try:
        try:
            root(**root_values)
            return command(**values)
        except EOFError as e:
            print(file=sys.stderr)
            raise Abort from e
        except KeyboardInterrupt as e:
            raise Exit(130) from e
        except OSError as e:
            if e.errno == errno.EPIPE:
                from typer._click.utils import PacifyFlushWrapper

                sys.stdout = PacifyFlushWrapper(sys.stdout)
                sys.stderr = PacifyFlushWrapper(sys.stderr)
                sys.exit(1)
            raise
    except Exit as e:
        return e.exit_code

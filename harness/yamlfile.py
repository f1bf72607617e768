"""A scenario file as YAML: read within bounds, so that no file makes the loader fail otherwise
than with one line (``ScenarioError``). What the settings mean is ``harness.scenario``'s business.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import ScenarioError, cut

# Far more than any scenario needs: a scenario is a page of YAML three levels deep. The bounds
# keep a wrong file (a log, /dev/zero, a generated tree) from filling memory or the stack.
MAX_SCENARIO_BYTES = 1 << 20
MAX_NESTING = 32


def read_settings(path: Path) -> dict[str, Any]:
    """The mapping at the top of a YAML file; anything else is a one-line ScenarioError."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SCENARIO_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise ScenarioError(f"cannot read scenario {path}: {_reason(exc)}") from None
    if len(data) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{path}: larger than {MAX_SCENARIO_BYTES >> 20} MiB, not a scenario")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        loaded = yaml.load(text, Loader=_ScenarioLoader)
    except yaml.YAMLError as exc:
        mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
        where = f" (line {mark.line + 1}: {cut(str(problem))})" if mark and problem else ""
        raise ScenarioError(f"{path}: not valid YAML{where}") from None
    except (ValueError, OverflowError) as exc:  # a value PyYAML's constructors cannot convert
        raise ScenarioError(f"{path}: not valid YAML ({cut(str(exc))})") from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ScenarioError(f"{path}: expected a mapping of settings at the top level")
    return loaded


class _ScenarioLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than MAX_NESTING: its composer recurses
    once per level, so a deep enough document would end in RecursionError."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self._depth >= MAX_NESTING:
            mark = self.get_mark()  # about where the parser is: the line of the deep part
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_NESTING} levels", mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc)

"""Reading config YAML strictly: a key given twice is an error, not a silent overwrite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["duplicate_keys", "read_yaml"]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that records every mapping key seen twice, with its path and line."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []
        self._path: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                where = ".".join([*self._path, str(key)])
                self.duplicates.append(f"{where}: given twice (lines {seen[key]} and {line})")
            else:
                seen[key] = line
            if isinstance(value_node, yaml.MappingNode):
                self._path.append(str(key))
                self.construct_object(value_node, deep=True)
                self._path.pop()
        return super().construct_mapping(node, deep=deep)


def duplicate_keys(text: str) -> list[str]:
    """Problems ``key.path: given twice (lines a and b)`` for every repeated mapping key."""
    loader = _StrictLoader(text)
    try:
        loader.get_single_data()
    finally:
        loader.dispose()
    return loader.duplicates


def read_yaml(path: Path | str) -> Any:
    """Parse a YAML file; raise :class:`ConfigError` naming the file for bad YAML or repeated keys."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        msg = f"config file not found: {path}"
        raise ConfigError(msg) from None
    try:
        problems = duplicate_keys(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        msg = f"{path}: not valid YAML ({err})"
        raise ConfigError(msg) from None
    if problems:
        msg = f"invalid config {path}:\n" + "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(msg)
    return data

"""Every config key is at least as strict as the library function it feeds.

Generated from the declarations: for each stage that names its library params model
(``Stage.library``), every field the section shares with that model is given the values the
library's own constraints refuse (below a minimum, above a maximum, outside a set of choices,
of the wrong type); each one the library refuses must be refused by config validation, before
any job, naming the key path.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from scsnake.config import WorkflowConfig, validate_config
from scsnake.errors import ConfigError
from scsnake.stages import STAGES


def _schema_bad_values(schema: dict[str, Any]) -> list[Any]:
    """Values a JSON schema (of one field) refuses: past its bounds, outside its choices, wrong types."""
    bad: list[Any] = []
    for option in schema.get("anyOf", [schema]):
        if "minimum" in option:
            bad.append(option["minimum"] - (1 if option.get("type") == "integer" else 0.5))
        if "exclusiveMinimum" in option:
            bad.append(option["exclusiveMinimum"])
        if "maximum" in option:
            bad.append(option["maximum"] + (1 if option.get("type") == "integer" else 0.5))
        if "exclusiveMaximum" in option:
            bad.append(option["exclusiveMaximum"])
        if option.get("type") == "integer":
            bad += [1.5, 2**63]
        if option.get("type") in ("integer", "number"):
            bad += [math.nan, "many", -(10**12)]
        if "enum" in option or "const" in option:
            bad.append("not-a-choice")
        if option.get("type") == "boolean":
            bad.append("maybe")
    return bad


def _field_schema(model: Any, field: str) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema()
    defs = schema.get("$defs", {})
    members = [defs[ref["$ref"].split("/")[-1]] for ref in schema.get("oneOf", schema.get("anyOf", []))]
    for member in [schema, *members]:
        if field in member.get("properties", {}):
            return member["properties"][field]
    return {}


def _members(model: Any) -> list[type[BaseModel]]:
    """The models of a params type (the members of a tagged union)."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [model]
    from typing import get_args

    args = get_args(model)
    union = args[0] if args else model
    return [m for m in get_args(union) if isinstance(m, type) and issubclass(m, BaseModel)]


def _cases() -> list[Any]:
    cases = []
    for name, stage in STAGES.items():
        if stage.library is None:
            continue
        section = stage.section or name
        config_models = _members(WorkflowConfig.model_fields[section].annotation)
        for config_model in config_models:
            flavor = config_model.model_fields.get("flavor")
            choice = None if flavor is None else next(iter(getattr(flavor.annotation, "__args__", ())), None)
            shared = sorted(set(config_model.model_fields) & _library_fields(stage.library))
            for field in shared:
                for bad in _schema_bad_values(_field_schema(stage.library, field)):
                    cases.append(pytest.param(section, choice, field, bad, id=f"{section}.{field}={bad!r}"))
    return cases


def _library_fields(library: Any) -> set[str]:
    return {field for member in _members(library) for field in member.model_fields}


def _library_refuses(library: Any, choice: str | None, field: str, value: Any) -> bool:
    data = {field: value} if choice is None or field == "flavor" else {"flavor": choice, field: value}
    try:
        TypeAdapter(library).validate_python(data)
    except ValidationError as err:
        return any(error["loc"] and error["loc"][-1] == field for error in err.errors())
    return False


@pytest.mark.parametrize(("section", "choice", "field", "bad"), _cases())
def test_config_refuses_what_the_library_refuses(
    section: str, choice: str | None, field: str, bad: Any
) -> None:
    stage = next(s for n, s in STAGES.items() if (s.section or n) == section and s.library is not None)
    if not _library_refuses(stage.library, choice, field, bad):
        pytest.skip(f"the library accepts {field}={bad!r}")
    values = {field: bad} if choice is None or field == "flavor" else {"flavor": choice, field: bad}
    with pytest.raises(ConfigError) as err:
        validate_config({section: values})
    assert f"{section}.{field}" in str(err.value)


def test_every_seeded_stage_refuses_seeds_numpy_refuses() -> None:
    """The top-level seed reaches every seeded stage's ``random_state``: numpy takes 0 … 2**32 - 1."""
    for bad in (-1, 2**32, 5_000_000_000):
        with pytest.raises(ConfigError, match="seed"):
            validate_config({"seed": bad})
    validate_config({"seed": 2**32 - 1})

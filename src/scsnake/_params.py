"""Parameter models: the base class, the ``validated`` decorator and error formatting."""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import textwrap
from collections.abc import Mapping, Sequence
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

from .errors import ParamError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DocumentedJsonSchema",
    "Seed",
    "StageParams",
    "attribute_docs",
    "format_validation_error",
    "validated",
]

F = TypeVar("F", bound="Callable[..., Any]")

#: A seed numpy's generators and every seeded library accept.
Seed = Annotated[int, Field(ge=0, lt=2**32)]

#: Keywords that control where results go, not what they are: never validated.
UNVALIDATED = frozenset({"adata", "copy", "inplace", "data"})


class StageParams(BaseModel):
    """Base of every parameter model: strict keys, frozen, documented fields.

    A field's documentation is the docstring under it. It is read when a schema is made
    (:class:`DocumentedJsonSchema`), not when the class is: pydantic's own reading
    (``use_attribute_docstrings``) walks the import frames of every model on Python < 3.13, a
    third of the import time of a workflow job. Validators are built on first use, so a job
    builds only those of its own stage.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, arbitrary_types_allowed=True, defer_build=True
    )


@functools.cache
def attribute_docs(cls: type) -> dict[str, str]:
    """The docstrings written under the annotated attributes of ``cls`` (and of its bases)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__[:-1]):
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        except (OSError, TypeError, SyntaxError, IndexError, AttributeError):
            continue  # made at run time (create_model) or not a class statement
        for statement, following in itertools.pairwise(body):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return docs


class DocumentedJsonSchema(GenerateJsonSchema):
    """JSON schema generator that describes each field by its attribute docstring."""

    def model_schema(self, schema: Any) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        docs = attribute_docs(schema["cls"])
        for name, field in json_schema.get("properties", {}).items():
            if name in docs and "description" not in field:
                field["description"] = docs[name]
        return json_schema


def _loc_to_path(loc: tuple[Any, ...], prefix: str = "", model: Any = None) -> str:
    """``('samples', 'PBMC', 'format')`` → ``samples.PBMC.format``, without pydantic's union tags."""
    parts = [prefix] if prefix else []
    parts += _walk(model, loc)[0]
    return ".".join(parts).replace(".[", "[")


def _walk(annotation: Any, loc: tuple[Any, ...]) -> tuple[list[str], Any]:
    """Follow ``loc`` through the type structure of ``annotation``.

    Returns the user-facing key path (union tags that pydantic inserts into ``loc`` dropped)
    and the annotation reached (``None`` where the structure could not be followed).
    """
    parts: list[str] = []
    current = annotation
    for item in loc:
        current = _strip_optional(current)
        if _is_union(current):  # pydantic puts the chosen member's tag into loc: consume it
            current = _union_member(current, item)
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            parts.append(str(item))
            field = current.model_fields.get(str(item))
            current = None if field is None else field.annotation
            if field is not None and field.discriminator is not None:  # pydantic moved it out of Annotated
                current = Annotated[current, field]
            continue
        origin = get_origin(current)
        args = get_args(current)
        if origin in (dict, Mapping) and len(args) == 2:
            parts.append(str(item))
            current = args[1]
        elif origin in (list, tuple, Sequence) and args:
            parts.append(f"[{item}]" if isinstance(item, int) else str(item))
            current = args[0]
        else:  # structure unknown: fall back on the shape of the item
            current = None
            if isinstance(item, int):
                parts.append(f"[{item}]")
            elif not _looks_like_tag(str(item)):
                parts.append(str(item))
    return parts, current


def _looks_like_tag(item: str) -> bool:
    # pydantic's smart-union tags: 'function-after[...]', 'list[int]', 'literal[...]', 'int', 'none'
    return "[" in item or item in {"int", "float", "str", "bool", "none", "bytes"}


def _strip_annotated(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _strip_optional(annotation: Any) -> Any:
    """``X | None`` → ``X`` (pydantic validates it without a union tag); ``Annotated`` unwrapped."""
    if get_origin(annotation) is Annotated:
        inner = get_args(annotation)[0]
        if _is_union(_strip_annotated(inner)):
            return annotation  # keep the discriminator metadata of a tagged union
        return _strip_optional(inner)
    if get_origin(annotation) in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _strip_optional(members[0])
    return annotation


def _is_union(annotation: Any) -> bool:
    inner = _strip_annotated(annotation)
    if get_origin(inner) not in (Union, UnionType):
        return False
    return len([a for a in get_args(inner) if a is not type(None)]) > 1


def _union_member(annotation: Any, tag: Any) -> Any:
    """The member of a union that pydantic names ``tag`` in an error location (None if unknown)."""
    discriminator = None
    if get_origin(annotation) is Annotated:
        for meta in get_args(annotation)[1:]:
            discriminator = getattr(meta, "discriminator", None) or discriminator
    members = [_strip_optional(a) for a in get_args(_strip_annotated(annotation)) if a is not type(None)]
    for member in members:
        if not (isinstance(member, type) and issubclass(member, BaseModel)):
            continue
        if member.__name__ == tag:
            return member
        field = member.model_fields.get(discriminator) if isinstance(discriminator, str) else None
        if field is not None and tag in get_args(field.annotation):
            return member
    return None


def format_validation_error(err: ValidationError, prefix: str = "", model: Any = None) -> list[str]:
    """Turn a pydantic error into lines ``key.path: problem (got value)``.

    ``model`` is the validated type (a model or an annotated union of models); it lets key
    paths be named exactly. For unknown keys the allowed keys are listed.
    """
    lines = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        path = _loc_to_path(loc, prefix, model)
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1]) if model is not None else None
            hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
            lines.append(f"{path or '<root>'}: unknown key{hint}")
            continue
        msg = e["msg"]
        if e["type"] == "union_tag_invalid":
            tag, allowed = e["ctx"]["tag"], e["ctx"]["expected_tags"]
            lines.append(
                f"{path}.{e['ctx']['discriminator'].strip(chr(39))}: {tag!r} is not one of {allowed}".lstrip(
                    "."
                )
            )
            continue
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if not path:  # a whole-model rule: its message says what is wrong
            lines.append(msg)
            continue
        got = e.get("input")
        got_text = "" if e["type"] == "missing" else f" (got {got!r})"
        lines.append(f"{path}: {msg}{got_text}")
    return lines


def _allowed_keys(model: Any, loc: tuple[Any, ...]) -> list[str] | None:
    """Field names of the (nested) model at ``loc``, if it can be resolved."""
    current = _strip_optional(_walk(model, loc)[1])
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


def validated(model: Any) -> Callable[[F], F]:
    """Check a function's keyword arguments against ``model`` before it runs.

    ``model`` is a :class:`StageParams` subclass or an annotated union of them.
    A bad value raises :class:`~scsnake.errors.ParamError` naming the argument.
    The function is then called with the arguments as given.
    """
    adapter = TypeAdapter(model)

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            to_check = {
                k: v
                for k, v in bound.arguments.items()
                if k not in UNVALIDATED and signature.parameters[k].kind is not inspect.Parameter.VAR_KEYWORD
            }
            try:
                checked = adapter.validate_python(_with_defaults(signature, to_check))
            except ValidationError as err:
                lines = format_validation_error(err, model=model)
                msg = f"{func.__name__}: " + "; ".join(lines)
                raise ParamError(msg) from None
            # pass on numbers given as text ("1e4" -> 10000.0); everything else goes as given
            for name in to_check:
                value = getattr(checked, name, None)
                if isinstance(bound.arguments[name], str) and isinstance(value, (int, float)):
                    bound.arguments[name] = value
            return func(*bound.args, **bound.kwargs)

        wrapper.__scsnake_params__ = model  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _with_defaults(signature: inspect.Signature, given: dict[str, Any]) -> dict[str, Any]:
    """Fill in defaults so discriminated unions see their tag (e.g. ``flavor``)."""
    values = {}
    for name, p in signature.parameters.items():
        if name in UNVALIDATED or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if name in given:
            values[name] = given[name]
        elif p.default is not inspect.Parameter.empty:
            values[name] = p.default
    return values

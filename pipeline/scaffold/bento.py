"""A BentoML service's APIs, read from its source (nothing is imported, so neither BentoML nor the
model is needed here): each `@bentoml.api` method of a 1.2+ `@bentoml.service` class is
`POST /<method name>` (or its `route=`), taking a JSON object of the method's parameters. A
sample body is written where every parameter it needs is JSON-typed (str, int, float, bool,
lists and dicts of them, Literal, Optional, Annotated, and the module's aliases of these); a
file, an array or a Pydantic model is the user's.
"""

from __future__ import annotations

import ast
import contextlib
from dataclasses import dataclass
from typing import Any

_EXAMPLES: dict[str, Any] = {"str": "example", "int": 1, "float": 1.0, "bool": True}
_LISTS = {"list", "List", "Sequence", "tuple", "Tuple", "set", "Set"}
_DICTS = {"dict", "Dict", "Mapping"}
_OPTIONAL = {"Optional", "Union"}


@dataclass(frozen=True)
class BentoApi:
    name: str
    route: str
    body: dict[str, Any] | None  # the JSON request; None where init cannot write one
    why: str = ""  # why there is no body


class NotJsonTyped(ValueError):
    """A parameter whose value a JSON sample cannot give."""


def read_apis(source: str, service: str | None) -> tuple[list[BentoApi], str]:
    """(the APIs of the class `service`, '') or ([], why none can be read). Without a name, the
    one `@bentoml.service` class of the source."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [], f"it does not parse ({exc.msg}, line {exc.lineno})"
    classes = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and any(_named(d, "service") for d in node.decorator_list)
    ]
    found = next((c for c in classes if c.name == service), None) if service else None
    if found is None and not service and len(classes) == 1:
        found = classes[0]
    if found is None:
        legacy = [
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and any(_legacy_api(d) for d in node.decorator_list)
        ]
        if legacy:
            routes = ", ".join(f"POST /{name}" for name in legacy)
            return [], (
                f"a BentoML 1.0 service (bentoml.Service with IO descriptors, {routes}), whose"
                " bodies are its descriptors'"
            )
        return [], f"no @bentoml.service class {service or ''}".rstrip()
    # `Texts = Annotated[list[str], MinLen(1)]`: what a parameter's type may name.
    aliases = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    apis = [
        _api(node, decorator, aliases)
        for node in found.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for decorator in node.decorator_list
        if _named(decorator, "api")
    ]
    if not apis:
        return [], f"{found.name} has no @bentoml.api method"
    return apis, ""


def _named(decorator: ast.expr, name: str) -> bool:
    """`@bentoml.NAME`, `@NAME` (imported from bentoml) or either called with arguments."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr == name and isinstance(target.value, ast.Name)
    return isinstance(target, ast.Name) and target.id == name


def _legacy_api(decorator: ast.expr) -> bool:
    """`@svc.api(input=..., output=...)` of a BentoML 1.0 Service object."""
    return (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr == "api"
        and any(keyword.arg == "input" for keyword in decorator.keywords)
    )


def _api(
    node: ast.FunctionDef | ast.AsyncFunctionDef, decorator: ast.expr, aliases: dict[str, ast.expr]
) -> BentoApi:
    keywords = (
        {k.arg: k.value for k in decorator.keywords} if isinstance(decorator, ast.Call) else {}
    )
    route = keywords.get("route")
    path = route.value if isinstance(route, ast.Constant) and isinstance(route.value, str) else ""
    path = "/" + (path or node.name).lstrip("/")
    if "input_spec" in keywords:
        return BentoApi(node.name, path, None, "its body is the input_spec model's")
    try:
        body = _body(node.args, aliases)
    except NotJsonTyped as exc:
        return BentoApi(node.name, path, None, str(exc))
    return BentoApi(node.name, path, body)


def _body(arguments: ast.arguments, aliases: dict[str, ast.expr]) -> dict[str, Any]:
    named = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    defaults: list[ast.expr | None] = [
        *[None] * (len(arguments.posonlyargs) + len(arguments.args) - len(arguments.defaults)),
        *arguments.defaults,
        *arguments.kw_defaults,
    ]
    body: dict[str, Any] = {}
    for argument, default in zip(named, defaults, strict=True):
        annotation = ast.unparse(argument.annotation) if argument.annotation else ""
        if argument.arg == "self" or annotation.endswith("Context"):
            continue  # the instance, and BentoML's request context: not in the body
        default = _field_default(default) if default is not None else None
        if default is not None:
            # A computed default (not a literal): the parameter is optional, left out.
            with contextlib.suppress(ValueError):
                body[argument.arg] = ast.literal_eval(default)
            continue
        if argument.annotation is None:
            raise NotJsonTyped(f"parameter {argument.arg} has no type")
        try:
            body[argument.arg] = _example(argument.annotation, aliases)
        except NotJsonTyped:
            raise NotJsonTyped(f"parameter {argument.arg} is {annotation}, not JSON") from None
    return body


def _field_default(default: ast.expr) -> ast.expr | None:
    """The default a parameter has: `Field(...)` without one makes it required (None)."""
    if not (isinstance(default, ast.Call) and ast.unparse(default.func).endswith("Field")):
        return default
    given = [k.value for k in default.keywords if k.arg == "default"] + default.args[:1]
    return next((value for value in given if ast.unparse(value) != "..."), None)


def _example(annotation: ast.expr, aliases: dict[str, ast.expr], depth: int = 0) -> Any:
    """An example value of a JSON type; NotJsonTyped for any other."""
    if depth > 10:
        raise NotJsonTyped(ast.unparse(annotation))

    def example(node: ast.expr) -> Any:
        return _example(node, aliases, depth + 1)

    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return example(ast.parse(annotation.value, mode="eval").body)  # a quoted annotation
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        sides = [s for s in (annotation.left, annotation.right) if not _is_none(s)]
        return example(sides[0])
    if isinstance(annotation, ast.Name) and annotation.id in aliases:
        return example(aliases[annotation.id])
    if isinstance(annotation, ast.Name | ast.Attribute):
        name = annotation.id if isinstance(annotation, ast.Name) else annotation.attr
        if name in _EXAMPLES:
            return _EXAMPLES[name]
        if name in _LISTS:
            return []
        if name in _DICTS:
            return {}
        raise NotJsonTyped(name)
    if isinstance(annotation, ast.Subscript):
        outer = ast.unparse(annotation.value).rpartition(".")[2]
        inner = annotation.slice
        items = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
        if outer in _LISTS:
            return [example(items[0])]
        if outer in _DICTS:
            return {"key": example(items[-1])}
        if outer in _OPTIONAL:
            return example(next(item for item in items if not _is_none(item)))
        if outer == "Annotated":
            return example(items[0])
        if outer == "Literal":
            return ast.literal_eval(items[0])
    raise NotJsonTyped(ast.unparse(annotation))


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None

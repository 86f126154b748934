"""Load a Python v2 function app as the Python worker does and describe its functions.

The app is touched in exactly one way: its folder goes first on `sys.path`, `function_app` (or the file
named by `PYTHON_SCRIPT_FILE_NAME`) is imported, and the single top-level `azure.functions.FunctionRegister`
instance in it (`FunctionApp`, `DFApp`, ...) is asked for `get_functions()`. Blueprints are found because
`register_functions` / `register_blueprint` copy their functions into the app.

Each function is then checked with the worker's rules (parameters vs bindings, `context`, `func.Out[...]`,
type annotations vs converters). A function that breaks them is reported as in error and not served,
like the real host's "The 'x' function is in error" instead of failing the whole host.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost import bindings as conv
from devhost.hostconfig import lookup
from devhost.routing import RouteTemplate, RouteTemplateError
from devhost.settings import is_function_disabled

HTTP_TRIGGER = "httpTrigger"
AUTH_LEVELS = ("anonymous", "function", "admin", "system", "user")


class AppLoadError(Exception):
    """function_app.py cannot be imported or holds no (or several) function app instances."""


class FunctionLoadError(Exception):
    def __init__(self, function_name: str, message: str) -> None:
        super().__init__(f"cannot load the {function_name} function: {message}")


@dataclass(frozen=True)
class Binding:
    """One binding as the worker sends it to the host (`get_raw_bindings()`), normalized."""

    name: str
    type: str
    direction: str  # "in" | "out" | "inout"
    data_type: str | None
    raw: Mapping[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return lookup(self.raw, key, default=default)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Binding:
        return cls(
            name=str(raw.get("name", "")),
            type=str(raw.get("type", "")),
            direction=str(raw.get("direction", "in")).lower(),
            data_type=str(raw["dataType"]).lower() if raw.get("dataType") is not None else None,
            raw=dict(raw),
        )


@dataclass(frozen=True)
class Param:
    """A function parameter bound to a binding; `converter` is the binding type used to convert it."""

    name: str
    binding: Binding
    converter: str
    pytype: Any


@dataclass(frozen=True)
class HttpTriggerInfo:
    route: str
    methods: frozenset[str] | None  # None = every method
    auth_level: str
    template: RouteTemplate


@dataclass(frozen=True)
class IndexedFunction:
    name: str
    trigger: Binding
    bindings: tuple[Binding, ...]
    func: Callable[..., Any]
    is_async: bool
    requires_context: bool
    inputs: tuple[Param, ...]
    outputs: tuple[Param, ...]
    # `$return` binding (or the trigger itself for triggers with implicit output), else None.
    return_param: Param | None
    directory: str
    disabled: bool = False
    http: HttpTriggerInfo | None = None

    @property
    def trigger_type(self) -> str:
        return self.trigger.type

    def binding(self, name: str) -> Binding | None:
        return next((b for b in self.bindings if b.name == name), None)


@dataclass(frozen=True)
class FunctionError:
    name: str
    trigger_type: str | None
    message: str


@dataclass(frozen=True)
class AppIndex:
    app_dir: Path
    functions: tuple[IndexedFunction, ...]
    errors: tuple[FunctionError, ...]

    def by_name(self, name: str) -> IndexedFunction | None:
        return next((f for f in self.functions if f.name.lower() == name.lower()), None)


def load_app(app_dir: Path, script_file: str = "function_app.py") -> Any:
    """Import the app's script as the worker does and return its one FunctionRegister instance."""
    from azure.functions import FunctionRegister

    app_dir = Path(app_dir).resolve()
    script = app_dir / script_file
    if not script.exists():
        raise AppLoadError(f"{script} not found: devhost runs Python v2 (decorator) apps only")
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    module_name = Path(script_file).stem
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise AppLoadError(f"importing {script_file} failed: {type(exc).__name__}: {exc}") from exc
    if Path(getattr(module, "__file__", "") or "").resolve() != script.resolve():
        raise AppLoadError(f"module {module_name!r} resolved to {module.__file__}, not {script}")
    apps = [getattr(module, attr) for attr in module.__dir__()
            if isinstance(getattr(module, attr, None), FunctionRegister)]
    if not apps:
        raise AppLoadError(f"Could not find top level function app instances in {script_file}.")
    if len(apps) > 1:
        raise AppLoadError(f"More than one {type(apps[0]).__name__} or other top level function app "
                           "instances are defined.")
    return apps[0]


def index_app(app: Any, *, app_dir: Path, environ: Mapping[str, str] | None = None) -> AppIndex:
    environ = os.environ if environ is None else environ
    try:
        functions = app.get_functions()
    except Exception as exc:
        raise AppLoadError(f"indexing the function app failed: {type(exc).__name__}: {exc}") from exc
    indexed: list[IndexedFunction] = []
    errors: list[FunctionError] = []
    for function in functions:
        name = function.get_function_name()
        try:
            indexed.append(analyze_function(function, app_dir=app_dir, environ=environ))
        except (FunctionLoadError, RouteTemplateError) as exc:
            trigger = function.get_trigger()
            errors.append(FunctionError(name=name, trigger_type=getattr(trigger, "type", None) if trigger else None,
                                        message=str(exc)))
    return AppIndex(app_dir=Path(app_dir), functions=tuple(indexed), errors=tuple(errors))


def load_and_index(app_dir: Path, *, script_file: str = "function_app.py",
                   environ: Mapping[str, str] | None = None) -> AppIndex:
    return index_app(load_app(app_dir, script_file), app_dir=Path(app_dir).resolve(), environ=environ)


def _is_out_annotation(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and origin.__name__ == "Out"


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except (NameError, TypeError, AttributeError, SyntaxError):
        # NB: unresolvable forward references; the raw annotations are still better than nothing.
        return dict(getattr(fn, "__annotations__", {}) or {})


def analyze_function(function: Any, *, app_dir: Path, environ: Mapping[str, str]) -> IndexedFunction:
    """Apply the worker's FunctionLoadRequest checks to one `azure.functions.Function`."""
    name = function.get_function_name()
    all_bindings = tuple(Binding.from_raw(json.loads(raw)) for raw in function.get_raw_bindings())
    trigger_obj = function.get_trigger()
    trigger = next((b for b in all_bindings if trigger_obj is not None and b.name == trigger_obj.name
                    and b.type == trigger_obj.get_binding_name()), None)
    if trigger is None:
        raise FunctionLoadError(name, "the function has no trigger binding")

    fn = function.get_user_function()
    params = dict(inspect.signature(fn).parameters)
    annotations = _type_hints(fn)

    bound: dict[str, Binding] = {}
    return_binding: Binding | None = None
    for b in all_bindings:
        if b.direction == "inout":
            raise FunctionLoadError(name, '"inout" bindings are not supported')
        if b.name == "$return":
            if b.direction != "out":
                raise FunctionLoadError(name, '"$return" binding must have direction set to "out"')
            return_binding = b
        else:
            bound[b.name] = b
    implicit_return = return_binding is None and conv.has_implicit_output(trigger.type)

    requires_context = False
    if "context" in params and "context" not in bound:
        requires_context = True
        params.pop("context")
        ctx_anno = annotations.get("context")
        if ctx_anno is not None and (not isinstance(ctx_anno, type) or ctx_anno.__name__ != "Context"):
            raise FunctionLoadError(name, f'the "context" parameter is expected to be of type '
                                          f"azure.functions.Context, got {ctx_anno!r}")
    if set(params) - set(bound):
        raise FunctionLoadError(name, "the following parameters are declared in Python but not in the "
                                      f"bindings: {sorted(set(params) - set(bound))!r}")
    if set(bound) - set(params):
        raise FunctionLoadError(name, "the following parameters are declared in the bindings but not in "
                                      f"Python: {sorted(set(bound) - set(params))!r}")

    inputs: list[Param] = []
    outputs: list[Param] = []
    for pname in params:
        desc = bound[pname]
        has_anno = pname in annotations
        anno = annotations.get(pname)
        is_param_out = has_anno and _is_out_annotation(anno)
        pytype = anno
        if is_param_out:
            args = typing.get_args(anno)
            if len(args) != 1:
                raise FunctionLoadError(name, f"binding {pname} has invalid Out annotation {anno!r}")
            pytype = args[0]
        if has_anno and not isinstance(pytype, type) and typing.get_origin(pytype) is None:
            raise FunctionLoadError(name, f"binding {pname} has invalid non-type annotation {anno!r}")
        is_binding_out = desc.direction == "out"
        if is_binding_out and has_anno and not is_param_out:
            raise FunctionLoadError(name, f'binding {pname} is declared to have the "out" direction, but its '
                                          "annotation in Python is not a subclass of azure.functions.Out")
        if not is_binding_out and is_param_out:
            raise FunctionLoadError(name, f'binding {pname} is declared to have the "in" direction, but its '
                                          "annotation is azure.functions.Out in Python")
        # NB: as the worker, bindings with an implicit output (durable triggers) keep their own converter
        # even for str/bytes annotations, so `def hello(city: str)` gets "Tokyo", not '"Tokyo"'.
        generic = has_anno and pytype in (str, bytes) and not conv.has_implicit_output(desc.type)
        converter = "generic" if generic else desc.type
        if has_anno and isinstance(pytype, type):
            impl = conv.get_converter(converter)
            ok = (impl.check_output_type_annotation(pytype) if is_param_out
                  else impl.check_input_type_annotation(pytype))
            if not ok:
                raise FunctionLoadError(name, f'type of {pname} binding "{desc.type}" does not match its '
                                              f'Python annotation "{pytype.__name__}"')
        param = Param(name=pname, binding=desc, converter=converter, pytype=pytype if has_anno else None)
        (outputs if is_binding_out else inputs).append(param)

    return_param = None
    if return_binding is not None:
        rtype = annotations.get("return")
        if rtype is not None:
            if _is_out_annotation(rtype):
                raise FunctionLoadError(name, "return annotation should not be azure.functions.Out")
            if isinstance(rtype, type) and not conv.get_converter(return_binding.type) \
                    .check_output_type_annotation(rtype):
                raise FunctionLoadError(name, f'Python return annotation "{rtype.__name__}" does not match '
                                              f'binding type "{return_binding.type}"')
        return_param = Param(name="$return", binding=return_binding, converter=return_binding.type, pytype=rtype)
    elif implicit_return:
        return_param = Param(name="$return", binding=trigger, converter=trigger.type, pytype=None)

    http = _http_info(name, trigger) if trigger.type == HTTP_TRIGGER else None
    return IndexedFunction(
        name=name,
        trigger=trigger,
        bindings=all_bindings,
        func=fn,
        is_async=inspect.iscoroutinefunction(fn),
        requires_context=requires_context,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        return_param=return_param,
        directory=str(app_dir),
        disabled=is_function_disabled(name, environ),
        http=http,
    )


def _http_info(name: str, trigger: Binding) -> HttpTriggerInfo:
    route = trigger.get("route")
    route = name if route is None else str(route)
    methods = trigger.get("methods")
    method_set = frozenset(str(m).upper() for m in methods) if methods else None
    level = str(trigger.get("authLevel") or "function").lower()
    if level not in AUTH_LEVELS:
        raise FunctionLoadError(name, f"unknown authLevel {level!r}")
    try:
        template = RouteTemplate.parse(route)
    except RouteTemplateError as exc:
        raise FunctionLoadError(name, f"invalid route {route!r}: {exc}") from None
    return HttpTriggerInfo(route=route, methods=method_set, auth_level=level, template=template)

"""Typing: the typed calls run as typed, Literal types match the enums, return types are public."""

from __future__ import annotations

import collections.abc
import datetime
import inspect
import types
import typing
from typing import Any

import httpx
import pytest
import typing_extensions

import qoder_async
from qoder_async import DeploymentStatus, QoderClient, RunStatus, TriggerType
from qoder_async._literals import DeploymentStatusName, RunStatusName, TriggerTypeName
from tests import typing_checks
from tests.helpers import connect, deployment_with_runs

if typing.TYPE_CHECKING:
    from qoder_async.testing import FakeQoderAPI

# Names a return annotation may use besides the public ones: the standard library's and httpx.
_NAMESPACE: dict[str, Any] = {
    **vars(typing),
    **{name: getattr(collections.abc, name) for name in collections.abc.__all__},
    "datetime": datetime.datetime,
    "timedelta": datetime.timedelta,
    "TracebackType": types.TracebackType,
    "Self": typing_extensions.Self,
    "httpx": httpx,
}


@pytest.mark.anyio
async def test_the_typed_calls_run_against_the_fake(api: FakeQoderAPI) -> None:
    """`typing_checks.accepted`, which mypy checks, also runs: its calls are real calls."""
    deployment_id, (run_id,) = deployment_with_runs(api, 1)
    async with connect(api) as client:
        await typing_checks.accepted(client, deployment_id, run_id)


@pytest.mark.parametrize(
    ("alias", "enum"),
    [
        (DeploymentStatusName, DeploymentStatus),
        (RunStatusName, RunStatus),
        (TriggerTypeName, TriggerType),
    ],
)
def test_literal_types_list_exactly_the_enum_values(alias: Any, enum: type[Any]) -> None:
    """A Literal parameter type accepts the values of its enum, no more and no fewer."""
    assert typing.get_args(alias) == tuple(member.value for member in enum)


def _classes_in(annotation: object) -> list[type]:
    """The classes an evaluated annotation names, generics and unions unpacked."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return [annotation]
    found = []
    origin = typing.get_origin(annotation)
    if isinstance(origin, type):
        found.append(origin)
    for argument in typing.get_args(annotation):
        found.extend(_classes_in(argument))
    return found


def _returns(owner: str, function: Any, module: str) -> list[str]:
    """Unexported classes in `function`'s return annotation, as "owner.name -> class"."""
    annotation = inspect.signature(function).return_annotation
    if annotation is inspect.Signature.empty:
        return [f"{owner}: no return annotation"]
    namespace = {**_NAMESPACE, **vars(__import__(module, fromlist=["_"]))}
    namespace.update({name: getattr(qoder_async, name) for name in qoder_async.__all__})
    resolved = eval(annotation, namespace) if isinstance(annotation, str) else annotation  # noqa: S307 - our own annotations
    return [
        f"{owner} -> {cls.__module__}.{cls.__qualname__}"
        for cls in _classes_in(resolved)
        if cls.__module__.split(".")[0] == "qoder_async"
        and getattr(qoder_async, cls.__name__, None) is not cls
    ]


def test_every_type_a_public_method_returns_is_exported() -> None:
    """Public methods and properties (raw twins included) return only names qoder_async exports."""
    unexported: list[str] = []
    public_classes = [
        value
        for name in qoder_async.__all__
        if isinstance(value := getattr(qoder_async, name), type)
    ]
    for cls in public_classes:
        for name, member in inspect.getmembers(cls):
            if name.startswith("_"):
                continue
            function = member.fget if isinstance(member, property) else member
            if inspect.isfunction(function):
                unexported += _returns(f"{cls.__name__}.{name}", function, function.__module__)
    client = QoderClient(pat="pt-test")
    for namespace in (
        client.with_raw_response.deployments,
        client.with_raw_response.deployment_runs,
    ):
        for name in type(namespace).__slots__:
            twin = getattr(namespace, name)
            unexported += _returns(f"{type(namespace).__name__}.{name}", twin, "qoder_async")
    # Attributes are reached like return values: their types are public too.
    for value in (client.deployments, client.deployment_runs, client.with_raw_response):
        if getattr(qoder_async, type(value).__name__, None) is not type(value):
            unexported.append(f"attribute of type {type(value).__qualname__}")
    assert not unexported, unexported

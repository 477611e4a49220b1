"""`client.with_raw_response`: every resource method again, returning `APIResponse[T]`.

Each twin is the method itself, bound to a resource built with `raw=True` (see `Resource`),
behind a typed wrapper: `ParamSpec` keeps the method's parameters, so the twin takes
exactly the same arguments, and its return type becomes `APIResponse[T]` (for a list
method, `APIResponse[Page[T]]` of the first page). A test checks that every public method
of the resources has its twin here, with the same parameters.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from qoder_async._models import Deployment, DeploymentRun

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from qoder_async._deployments import Deployments
    from qoder_async._models import Page
    from qoder_async._pagination import Pager
    from qoder_async._response import APIResponse
    from qoder_async._runs import DeploymentRuns

__all__ = [
    "NO_RAW_TWIN",
    "DeploymentRunsWithRawResponse",
    "DeploymentsWithRawResponse",
    "QoderClientWithRawResponse",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T", Deployment, DeploymentRun)
F = TypeVar("F", bound="Callable[..., object]")

# Methods that are not one request or one listing, so have no single response to show.
NO_RAW_TWIN = frozenset({"list_runs_across"})


def _raw_call(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[APIResponse[R]]]:
    """The twin of an async method: the same arguments, its APIResponse."""

    async def twin(*args: P.args, **kwargs: P.kwargs) -> APIResponse[R]:
        # `method` is bound to a raw resource, which answers with the APIResponse.
        return cast("APIResponse[R]", await method(*args, **kwargs))

    return _describe(twin, method, "APIResponse[{}]")


def _raw_listing(method: Callable[P, Pager[T]]) -> Callable[P, Awaitable[APIResponse[Page[T]]]]:
    """The twin of a list method: the same arguments, the APIResponse of its first page."""

    async def twin(*args: P.args, **kwargs: P.kwargs) -> APIResponse[Page[T]]:
        # A raw resource's list method returns an awaitable of the first page's response.
        pending = cast("Awaitable[APIResponse[Page[T]]]", method(*args, **kwargs))
        return await pending

    return _describe(twin, method, "APIResponse[Page[{}]]", listing=True)


def _describe(twin: F, method: Callable[..., object], template: str, *, listing: bool = False) -> F:
    """Give `twin` the name, docstring and signature of `method`, with its own return type."""
    function: Any = functools.update_wrapper(twin, method)
    del function.__wrapped__  # inspect must show the twin's return type, not the method's
    signature = inspect.signature(method)
    returned = str(signature.return_annotation)
    if listing:
        returned = returned.removeprefix("Pager[").removesuffix("]")
    function.__signature__ = signature.replace(return_annotation=template.format(returned))
    return twin


class DeploymentsWithRawResponse:
    """`client.with_raw_response.deployments`: the methods of `client.deployments`.

    Each takes the same arguments and returns `APIResponse[T]` instead of `T`; list methods
    return the `APIResponse[Page[T]]` of the first page. `run` does not take `wait=True`
    here (a raw response is that of one request); `list_runs_across` has no twin.
    """

    __slots__ = (
        "archive",
        "create",
        "get",
        "get_run",
        "list",
        "list_runs",
        "pause",
        "run",
        "unpause",
        "update",
    )

    def __init__(self, deployments: Deployments) -> None:
        self.list = _raw_listing(deployments.list)
        self.get = _raw_call(deployments.get)
        self.create = _raw_call(deployments.create)
        self.update = _raw_call(deployments.update)
        self.pause = _raw_call(deployments.pause)
        self.unpause = _raw_call(deployments.unpause)
        self.archive = _raw_call(deployments.archive)
        self.run = _raw_call(deployments.run)
        self.list_runs = _raw_listing(deployments.list_runs)
        self.get_run = _raw_call(deployments.get_run)


class DeploymentRunsWithRawResponse:
    """`client.with_raw_response.deployment_runs`: the methods of `client.deployment_runs`.

    Each takes the same arguments and returns `APIResponse[T]` instead of `T`: `list` the
    response of the first page, `wait` that of its last poll.
    """

    __slots__ = ("get", "list", "wait")

    def __init__(self, deployment_runs: DeploymentRuns) -> None:
        self.list = _raw_listing(deployment_runs.list)
        self.get = _raw_call(deployment_runs.get)
        self.wait = _raw_call(deployment_runs.wait)


class QoderClientWithRawResponse:
    """`client.with_raw_response`: the client's resources, answering with `APIResponse[T]`.

    `await client.with_raw_response.deployments.get(dep_id)` sends what
    `client.deployments.get(dep_id)` sends and gives its status, headers, request id and
    elapsed time, and the model through `parse()`. It shares the client's (or view's)
    connections, options and lifecycle.
    """

    __slots__ = ("deployment_runs", "deployments")

    def __init__(self, deployments: Deployments, deployment_runs: DeploymentRuns) -> None:
        self.deployments = DeploymentsWithRawResponse(deployments)
        self.deployment_runs = DeploymentRunsWithRawResponse(deployment_runs)

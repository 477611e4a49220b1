"""Async-first Python SDK for the Qoder Cloud Agents API: deployments and their runs.

Start with `QoderClient`; `qoder_async.testing` holds an in-memory fake of the API.
"""

from __future__ import annotations

from qoder_async._client import DEFAULT_BASE_URL, QoderClient
from qoder_async._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FanOutError,
    NotFoundError,
    OverloadedError,
    PaginationError,
    PermissionDeniedError,
    QoderError,
    RateLimitError,
    RequestTooLargeError,
    ResponseValidationError,
    RunTimeoutError,
    ServerError,
    UnprocessableEntityError,
)
from qoder_async._fanout import FanOut
from qoder_async._models import (
    AgentRef,
    CasConfig,
    CasRunExtras,
    CasSettings,
    CasStats,
    ContentBlock,
    Deployment,
    DeploymentRun,
    DeploymentStatus,
    EventType,
    InitialEvent,
    Page,
    PausedReason,
    RunError,
    RunStatus,
    Schedule,
    TriggerContext,
    TriggerType,
)
from qoder_async._pagination import Pager
from qoder_async._sentinel import NOT_GIVEN, NotGiven
from qoder_async._transport import VERSION as _VERSION

__version__ = _VERSION

__all__ = [
    "DEFAULT_BASE_URL",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AgentRef",
    "AuthenticationError",
    "BadRequestError",
    "CasConfig",
    "CasRunExtras",
    "CasSettings",
    "CasStats",
    "ConflictError",
    "ContentBlock",
    "Deployment",
    "DeploymentRun",
    "DeploymentStatus",
    "EventType",
    "FanOut",
    "FanOutError",
    "InitialEvent",
    "NotFoundError",
    "NotGiven",
    "OverloadedError",
    "Page",
    "Pager",
    "PaginationError",
    "PausedReason",
    "PermissionDeniedError",
    "QoderClient",
    "QoderError",
    "RateLimitError",
    "RequestTooLargeError",
    "ResponseValidationError",
    "RunError",
    "RunStatus",
    "RunTimeoutError",
    "Schedule",
    "ServerError",
    "TriggerContext",
    "TriggerType",
    "UnprocessableEntityError",
    "__version__",
]


def _publish() -> None:
    # Tracebacks and reprs show `qoder_async.NotFoundError`, not the private module that
    # defines it.
    for name in __all__:
        value = globals()[name]
        if isinstance(value, type) and value.__module__.startswith("qoder_async._"):
            value.__module__ = __name__


_publish()

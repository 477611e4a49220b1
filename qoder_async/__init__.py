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
    ClientClosedError,
    ConflictError,
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
from qoder_async._ratelimit import RateLimit
from qoder_async._retry import RetryPolicy
from qoder_async._transport import VERSION as _VERSION

__version__ = _VERSION

__all__ = [
    "DEFAULT_BASE_URL",
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
    "ClientClosedError",
    "ConflictError",
    "ContentBlock",
    "Deployment",
    "DeploymentRun",
    "DeploymentStatus",
    "EventType",
    "InitialEvent",
    "NotFoundError",
    "OverloadedError",
    "Page",
    "Pager",
    "PaginationError",
    "PausedReason",
    "PermissionDeniedError",
    "QoderClient",
    "QoderError",
    "RateLimit",
    "RateLimitError",
    "RequestTooLargeError",
    "ResponseValidationError",
    "RetryPolicy",
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

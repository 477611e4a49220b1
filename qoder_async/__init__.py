"""Async-first Python SDK for the Qoder Cloud Agents API: deployments and their runs.

Start with `QoderClient`; `qoder_async.testing` holds an in-memory fake of the API.
"""

from __future__ import annotations

from qoder_async._client import DEFAULT_BASE_URL, QoderClient
from qoder_async._deployments import Deployments
from qoder_async._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
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
from qoder_async._events import (
    Base64Source,
    ContentBlock,
    DefineOutcome,
    DocumentBlock,
    DocumentSource,
    FileRubric,
    FileSource,
    ImageBlock,
    ImageSource,
    InitialEvent,
    PlainTextSource,
    RedactedBlock,
    Rubric,
    SystemMessage,
    TextBlock,
    TextRubric,
    UnknownBlock,
    UnknownEvent,
    UnknownRubric,
    UnknownSource,
    URLSource,
    UserMessage,
)
from qoder_async._fanout import FanOut
from qoder_async._models import (
    AgentRef,
    CasConfig,
    CasRunExtras,
    CasSettings,
    CasStats,
    Deployment,
    DeploymentRun,
    DeploymentStatus,
    EventType,
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
from qoder_async._raw import (
    DeploymentRunsWithRawResponse,
    DeploymentsWithRawResponse,
    QoderClientWithRawResponse,
)
from qoder_async._response import APIResponse
from qoder_async._retry import RetryPolicy
from qoder_async._runs import DeploymentRuns
from qoder_async._sentinel import NOT_GIVEN, NotGiven
from qoder_async._serialize import from_dict, to_dict, to_json
from qoder_async._transport import VERSION as _VERSION

__version__ = _VERSION

__all__ = [
    "DEFAULT_BASE_URL",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIResponse",
    "APITimeoutError",
    "AgentRef",
    "AuthenticationError",
    "BadRequestError",
    "Base64Source",
    "CasConfig",
    "CasRunExtras",
    "CasSettings",
    "CasStats",
    "ClientClosedError",
    "ConflictError",
    "ContentBlock",
    "DefineOutcome",
    "Deployment",
    "DeploymentRun",
    "DeploymentRuns",
    "DeploymentRunsWithRawResponse",
    "DeploymentStatus",
    "Deployments",
    "DeploymentsWithRawResponse",
    "DocumentBlock",
    "DocumentSource",
    "EventType",
    "FanOut",
    "FanOutError",
    "FileRubric",
    "FileSource",
    "ImageBlock",
    "ImageSource",
    "InitialEvent",
    "NotFoundError",
    "NotGiven",
    "OverloadedError",
    "Page",
    "Pager",
    "PaginationError",
    "PausedReason",
    "PermissionDeniedError",
    "PlainTextSource",
    "QoderClient",
    "QoderClientWithRawResponse",
    "QoderError",
    "RateLimit",
    "RateLimitError",
    "RedactedBlock",
    "RequestTooLargeError",
    "ResponseValidationError",
    "RetryPolicy",
    "Rubric",
    "RunError",
    "RunStatus",
    "RunTimeoutError",
    "Schedule",
    "ServerError",
    "SystemMessage",
    "TextBlock",
    "TextRubric",
    "TriggerContext",
    "TriggerType",
    "URLSource",
    "UnknownBlock",
    "UnknownEvent",
    "UnknownRubric",
    "UnknownSource",
    "UnprocessableEntityError",
    "UserMessage",
    "__version__",
    "from_dict",
    "to_dict",
    "to_json",
]


def _publish() -> None:
    # Tracebacks and reprs show `qoder_async.NotFoundError`, not the private module that
    # defines it. Classes with annotations of their own keep their module: typing (and
    # cattrs) resolve string annotations in the namespace `__module__` names.
    for name in __all__:
        value = globals()[name]
        if (
            isinstance(value, type)
            and value.__module__.startswith("qoder_async._")
            and not any(
                vars(base).get("__annotations__")
                for base in value.__mro__
                if base.__module__.startswith("qoder_async")
            )
        ):
            value.__module__ = __name__


_publish()

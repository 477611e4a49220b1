"""The Literal types of enum-valued parameters: what a type checker accepts as a str.

Each lists the values of its enum in `_models`, so that mypy and IDEs catch a typo such as
`status="failure"` while the enum members stay accepted too. A test keeps them equal to the
enums. A value the SDK does not know yet is sent with `extra_query=` instead.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["DeploymentStatusName", "RunStatusName", "TriggerTypeName"]

DeploymentStatusName = Literal["active", "paused"]
RunStatusName = Literal["pending", "running", "completed", "failed", "skipped"]
TriggerTypeName = Literal["manual", "schedule", "retry"]

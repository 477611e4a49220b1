"""The public surface: `__all__`, docstrings and the version."""

from __future__ import annotations

import importlib.metadata
import inspect
import typing
from pathlib import Path

import attrs

import qoder_async
import qoder_async.testing


def test_all_is_complete() -> None:
    """`__all__` names only things that exist, once each, and covers every public name.

    Its order is enforced by ruff (RUF022).
    """
    for module in (qoder_async, qoder_async.testing):
        names = list(module.__all__)
        assert len(set(names)) == len(names)
        for name in names:
            assert hasattr(module, name), name
        public = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and not inspect.ismodule(value)
            and name not in {"annotations"}
        }
        assert public <= set(names), public - set(names)


def test_every_public_name_has_a_docstring() -> None:
    """Every public class, function, method and property says what it is."""
    missing: list[str] = []
    for module in (qoder_async, qoder_async.testing):
        for name in module.__all__:
            value = getattr(module, name)
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if not inspect.getdoc(value):
                missing.append(name)
            if inspect.isclass(value):
                missing.extend(
                    f"{name}.{attr}"
                    for attr, member in vars(value).items()
                    if not attr.startswith("_")
                    and (isinstance(member, property) or inspect.isfunction(member))
                    and not inspect.getdoc(member)
                )
    assert not missing, missing


def test_resource_methods_have_docstrings() -> None:
    """The methods reached through `client.deployments` and `client.deployment_runs` are documented."""
    from qoder_async._deployments import Deployments
    from qoder_async._runs import DeploymentRuns

    for cls in (Deployments, DeploymentRuns):
        assert inspect.getdoc(cls)
        for attr, member in vars(cls).items():
            if not attr.startswith("_") and inspect.isfunction(member):
                assert inspect.getdoc(member), f"{cls.__name__}.{attr}"


def test_version_matches_the_distribution() -> None:
    """`__version__` equals the installed distribution's version."""
    assert qoder_async.__version__ == importlib.metadata.version("qoder-async")


def test_package_is_typed() -> None:
    """The package ships a py.typed marker for type checkers."""
    assert (Path(inspect.getfile(qoder_async)).parent / "py.typed").is_file()


def test_public_classes_show_their_public_module() -> None:
    """Exceptions and public classes name `qoder_async`, not a private module, in tracebacks."""
    import traceback

    for module in (qoder_async, qoder_async.testing):
        for name in module.__all__:
            value = getattr(module, name)
            if not inspect.isclass(value):
                continue
            # Type hints of every public class still resolve, wherever it says it lives.
            typing.get_type_hints(value)
            if issubclass(value, BaseException) or not attrs.has(value):
                assert value.__module__ == module.__name__, name
    try:
        raise qoder_async.NotFoundError("gone", status_code=404)
    except qoder_async.NotFoundError as exc:
        text = "".join(traceback.format_exception(exc))
    assert "qoder_async.NotFoundError: 404: gone" in text

"""lazy_exports: a package's names import their submodule on first look-up, and only then."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A throwaway package `lazypkg` exporting `VALUE` from `lazypkg.heavy`."""
    folder = tmp_path / "lazypkg"
    folder.mkdir()
    (folder / "__init__.py").write_text(
        "from textebm.lazy import lazy_exports\n"
        "__getattr__, __dir__ = lazy_exports(__name__, {'VALUE': 'heavy'})\n"
    )
    (folder / "heavy.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("lazypkg", "lazypkg.heavy"):
        sys.modules.pop(name, None)


def test_a_name_imports_its_submodule_on_first_look_up_then_stays_bound(package):
    import lazypkg

    assert "lazypkg.heavy" not in sys.modules
    assert "VALUE" in dir(lazypkg) and "VALUE" not in vars(lazypkg)
    assert lazypkg.VALUE == 42
    assert "lazypkg.heavy" in sys.modules
    assert vars(lazypkg)["VALUE"] == 42  # bound: later look-ups skip __getattr__


def test_an_unknown_name_is_an_attribute_error(package):
    import lazypkg

    with pytest.raises(AttributeError, match="module 'lazypkg' has no attribute 'nothing'"):
        _ = lazypkg.nothing
    with pytest.raises(ImportError):
        from lazypkg import nothing  # noqa: F401

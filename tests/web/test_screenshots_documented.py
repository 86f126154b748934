"""The README shows the page: its screenshots exist under docs/ as real PNGs of the widths they claim."""

from __future__ import annotations

import struct

import pytest

from tests.fixtures.devhost_process import PROJECT_ROOT

SCREENSHOTS = {"docs/gitops-list.png": 1280, "docs/gitops-detail.png": 1280, "docs/gitops-phone.png": 375}


def png_width(data: bytes) -> int:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">I", data[16:20])[0]


@pytest.mark.parametrize(("path", "css_width"), SCREENSHOTS.items())
def test_each_screenshot_is_linked_from_the_readme_and_is_a_png_of_its_width(path: str, css_width: int):
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert f"({path})" in readme
    width = png_width((PROJECT_ROOT / path).read_bytes())
    assert width in (css_width, css_width * 2, css_width * 3), width  # device pixel ratio 1, 2 or 3

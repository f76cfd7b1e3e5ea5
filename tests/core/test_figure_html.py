"""`figure_html`: the inline PNG the executed tutorials print under a block."""

import base64
import re

import matplotlib
import pytest

from hepjax._core import figure, figure_html

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def decoded(tag: str) -> bytes:
    match = re.fullmatch(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', tag)
    assert match, tag
    return base64.b64decode(match.group(2))


def test_a_figure_becomes_an_inline_png_and_is_closed():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    tag = figure_html(fig, alt='a "line" & <more>')
    assert decoded(tag).startswith(PNG_MAGIC)
    assert 'alt="a &quot;line&quot; &amp; &lt;more&gt;"' in tag
    assert not plt.fignum_exists(fig.number)


def test_a_png_file_is_embedded_byte_for_byte(tmp_path):
    path = tmp_path / "plot.png"
    with figure(path) as (_, ax):
        ax.plot([0, 1])
    assert decoded(figure_html(path)) == path.read_bytes()


def test_a_file_that_is_not_a_png_is_refused(tmp_path):
    path = tmp_path / "plot.svg"
    path.write_text("<svg/>")
    with pytest.raises(ValueError, match="figure: .* is not a PNG"):
        figure_html(path)

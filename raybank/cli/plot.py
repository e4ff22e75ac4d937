"""`simulate --plot FILE.svg`: the human report, charts included, saved as a picture.

rich records what it draws and writes it as SVG (Console.save_svg), so the picture is the
terminal's report exactly, with no plotting dependency. PNG would need a rasterizer
(cairosvg and the Cairo library, or matplotlib): refused rather than pulled in.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from raybank.domain.errors import InvalidOption, StorageUnwritable

PLOT_WIDTH = 100


def plot_path(value: str) -> Path:
    """The picture's path, checked before the simulation runs (exit 2 if unusable)."""
    path = Path(value).expanduser()
    if path.suffix.lower() != ".svg":
        raise InvalidOption(f"invalid --plot {value!r}: raybank writes SVG pictures "
                            "(FILE.svg); convert it to PNG with any SVG viewer")
    if not path.parent.is_dir():
        raise InvalidOption(f"invalid --plot {value!r}: no folder {str(path.parent)!r}")
    return path.absolute()


def write_plot(path: Path, view: str, result: dict[str, Any], title: str) -> None:
    """Draw ``view`` of ``result`` as the terminal would (colour, fixed width) into ``path``."""
    from rich.console import Console

    from raybank.cli.views import VIEWS

    console = Console(record=True, file=io.StringIO(), width=PLOT_WIDTH, force_terminal=True,
                      color_system="truecolor", highlight=False)
    for renderable in VIEWS[view](result):
        console.print(renderable)
    try:
        console.save_svg(str(path), title=title)
    except OSError as error:
        raise StorageUnwritable(f"cannot write the plot {str(path)!r}: {error.strerror}"
                                ) from error

"""The look of every figure: palette, labels, matplotlib settings, and matplotlib itself, lazily.

Colours come from the Okabe-Ito palette, which stays distinguishable under the common
colour-vision deficiencies (Okabe & Ito 2008, "Color Universal Design"). matplotlib is
imported when the first figure is made, and falls back to the non-interactive Agg backend
when there is no display.
"""

from __future__ import annotations

import os
import sys
from typing import Any

#: Okabe-Ito colours, in the order families are given them (black last: reserved for the law).
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
LAW_COLOUR = "#000000"
EXCLUDED_COLOUR = "#999999"

VARIABLE_LABELS = {
    "flops": "training compute C (FLOPs)",
    "params": "parameters N",
    "tokens": "training tokens D",
    "step": "training step",
}

_STYLE = {
    "figure.figsize": (5.0, 3.6),
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.which": "major",
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "svg.fonttype": "none",  # text stays text in SVG
    "pdf.fonttype": 42,  # TrueType in PDF: editable, accepted by journals
}


# -- matplotlib, lazily ------------------------------------------------------------------------
def pyplot() -> Any:
    """matplotlib.pyplot, with the Agg backend when there is no display to draw on."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        headless = sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        )
        if headless:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def style() -> Any:
    """A context manager applying the paper style (fonts, grid, export settings)."""
    import matplotlib

    return matplotlib.rc_context(_STYLE)

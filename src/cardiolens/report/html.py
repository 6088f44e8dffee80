"""A small builder for self-contained HTML reports (inline CSS, PNGs embedded as base64)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from cardiolens import SIMULATED_NOTICE, __version__
from cardiolens.io.atomic import write_text_atomic

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}th{background:#f3f3f3}
.banner{background:#fff3cd;border:1px solid #e0c36a;padding:.6em 1em;font-weight:600}
figure{margin:1em 0}figcaption{font-size:.85em;color:#555}img{max-width:100%}
.ok{color:#196c2e}.bad{color:#a11}
"""


class HtmlReport:
    """Collects sections and writes one self-contained HTML file."""

    def __init__(self, title: str, simulated: bool) -> None:
        self.title = title
        self.simulated = simulated
        self._parts: list[str] = []

    def heading(self, text: str) -> None:
        self._parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str, css_class: str | None = None) -> None:
        cls = f' class="{css_class}"' if css_class else ""
        self._parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def table(self, frame: pd.DataFrame, float_format: str = "{:.3g}") -> None:
        formatters = {c: float_format.format for c in frame.select_dtypes("float").columns}
        self._parts.append(frame.to_html(index=False, border=0, formatters=formatters, na_rep="–", escape=True))

    def figure(self, png: bytes, caption: str) -> None:
        data = base64.b64encode(png).decode("ascii")
        self._parts.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def render(self) -> str:
        banner = f'<p class="banner">{html.escape(SIMULATED_NOTICE)}</p>' if self.simulated else ""
        body = "\n".join(self._parts)
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>{banner}{body}"
            f"<hr><p><small>cardiolens {__version__}</small></p></body></html>"
        )

    def write(self, path: str | Path) -> Path:
        return write_text_atomic(path, self.render())

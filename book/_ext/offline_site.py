"""A Sphinx extension that keeps the built book self-contained.

Jupyter Book always loads sphinx-thebe, which adds to every page an inline script naming
thebe's JavaScript on unpkg.com (fetched when a reader clicks "Live Code") and a loader for it.
This book does not offer Live Code (its launch buttons open JupyterLab, Colab or Binder
instead), so the scripts only cost a CDN address and, because sphinx-thebe adds the inline
script twice, a console error on every page ("THEBE_JS_URL has already been declared").
This extension unhooks the function that adds them; everything else of sphinx-thebe stays.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx_thebe")
    import sphinx_thebe

    for listener in list(app.events.listeners["env-before-read-docs"]):
        if listener.handler is sphinx_thebe.init_thebe_core:
            app.disconnect(listener.id)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

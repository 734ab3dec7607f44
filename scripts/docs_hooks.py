"""mkdocs hooks of the documentation site (mkdocs.yml): the interactive explorer page
(``npq explore``) is generated at build time and served as ``explorer.html`` next to
docs/explorer.md, so every number on it comes from the npq that builds the site."""

from __future__ import annotations

import os

from mkdocs.structure.files import File

SAMPLES = int(os.environ.get("NPQ_DOCS_TABLEAU_SAMPLES", "2000"))  # Monte-Carlo inputs per tableau row (npq tableau --samples)


def on_files(files, config):
    from npq.apps.explore import explorer_data, render_explorer

    page = render_explorer(explorer_data(samples=SAMPLES, dmin_dims=(2, 3, 8, 24)))
    files.append(File.generated(config, "explorer.html", content=page))
    return files

"""Data Docs that render offline: the CDN scripts and styles of Great Expectations' pages, served from the lake.

Great Expectations' Data Docs load Bootstrap, jQuery, Font Awesome, bootstrap-table and Vega from public
CDNs, so on a machine without internet a page renders as unstyled text and its charts stay blank. The
Makefile installs pinned copies of exactly those packages (``vendor/datadocs``: ``npm ci`` checks each
package's integrity hash from the committed lock). After each validation :func:`localise` copies the files
the pages use into ``lake/data_docs/_assets/`` once and rewrites every page's CDN link to a relative path,
so a Data Docs folder stays readable wherever the lake is copied.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import shutil
from pathlib import Path

from jobs.common import paths, settings
from jobs.common.objectstore import S3Path
from jobs.common.storage import upload_tree

log = logging.getLogger("cde.datadocs")

VENDOR = settings.REPO_ROOT / "vendor" / "datadocs" / "node_modules"

# CDN address -> file inside vendor/datadocs/node_modules (same package and version as the CDN's)
ASSETS = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    # GX asks for the 1.19.0 filter-control styles: the 1.19.1 package's are the same extension
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "@fortawesome/fontawesome-free/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
}
# folders a copied file refers to (Font Awesome's CSS loads ../webfonts/)
FOLDERS = ("@fortawesome/fontawesome-free/webfonts",)

# Great Expectations' logo images are loaded from its bucket: offline they show as broken images, so every page
# shows this local mark instead (the pages credit Great Expectations in their own footer text)
LOGO_URL = re.compile(r"""(["'])https://great-expectations-web-assets\.s3[^"']*\1""")  # in src="" and CSS url('')
LOGO_FILE = "cde/data-docs-logo.svg"
LOGO_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="220" height="40" viewBox="0 0 220 40">'
            '<rect width="220" height="40" rx="4" fill="#12355b"/><text x="12" y="26" font-family="sans-serif" '
            'font-size="15" fill="#fff">Data quality report</text></svg>')

# a script or stylesheet still loaded from the network (links to web pages are fine)
REMOTE_ASSET = re.compile(r'<(?:script[^>]*\bsrc|link[^>]*\bhref)="(https?://[^"]+)"[^>]*>')


def assets_dir() -> Path | S3Path:
    """``lake/data_docs/_assets``: the one copy every Data Docs page of the lake links to."""
    return paths.data_docs("_assets")


def _copy_assets(target: Path | S3Path) -> bool:
    """Copy the vendored files into ``target`` once; False when the vendored packages are not installed."""
    if not VENDOR.is_dir():
        return False
    logo = target / LOGO_FILE
    if not logo.exists():
        if not isinstance(logo, S3Path):
            logo.parent.mkdir(parents=True, exist_ok=True)
        logo.write_text(LOGO_SVG)
    for relative in [*ASSETS.values(), *FOLDERS]:
        source, dest = VENDOR / relative, target / relative
        if dest.exists():
            continue
        if isinstance(dest, S3Path):
            upload_tree(source, dest) if source.is_dir() else dest.write_bytes(source.read_bytes())
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest)
        else:
            shutil.copyfile(source, dest)
    return True


def _relative(target: Path | S3Path, folder: Path | S3Path) -> str:
    """The relative link from pages in ``folder`` to ``target`` (both local, or both in one bucket)."""
    if isinstance(target, S3Path):
        return posixpath.relpath(target.key, folder.key)
    return os.path.relpath(target, folder)


def remote_assets(html: str) -> list[str]:
    """Scripts and stylesheets the page still loads from the network."""
    return [m.group(1) for m in REMOTE_ASSET.finditer(html)
            if m.group(0).startswith("<script") or 'rel="stylesheet"' in m.group(0) or ".css" in m.group(1)]


def localise(docs: Path, published: Path | S3Path | None = None) -> int:
    """Point every page under ``docs`` at the lake's local copies of its CDN assets.

    Parameters
    ----------
    docs : Path
        A Data Docs site folder (``lake/data_docs/<feed>/<date>``).
    published : Path or S3Path, optional
        Where the site will be served from when ``docs`` is a local folder built for a lake on an object
        store; links are relative to that place. Defaults to ``docs``.

    Returns
    -------
    int
        Pages rewritten. Zero, with a warning, when ``vendor/datadocs`` is not installed (``make install``
        installs it): the pages then still need the network to render.
    """
    target = assets_dir()
    if not _copy_assets(target):
        log.warning("vendor/datadocs is not installed (run make install): Data Docs in %s load their styles "
                    "from public CDNs and render unstyled offline", docs)
        return 0
    rewritten = 0
    published = docs if published is None else published
    for page in docs.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        prefix = _relative(target, (published / page.relative_to(docs).as_posix()).parent)
        local = html
        for url, relative in ASSETS.items():
            local = local.replace(f'"{url}"', f'"{prefix}/{relative}"')
        local = LOGO_URL.sub(rf"\g<1>{prefix}/{LOGO_FILE}\g<1>", local)
        if local != html:
            page.write_text(local, encoding="utf-8")
            rewritten += 1
        if left := remote_assets(local):
            log.warning("%s still loads %s from the network (not vendored)", page, ", ".join(sorted(set(left))))
    return rewritten

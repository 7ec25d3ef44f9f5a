"""`dvc plots show|diff` render offline: the SFT loss curves (Vega-Lite) draw in a real headless
Chromium with the network off, from the vendored page (assets/plots.html, written by
scripts/vendor-vega.sh); DVC's own page, which loads Vega from a CDN, draws nothing offline."""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.test_explore import LAUNCH_ARGS, chromium, unavailable

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def show(out: Path, *extra: str) -> str:
    subprocess.run([str(BIN / "dvc"), "plots", "show", "--out", str(out), *extra], cwd=ROOT,
                   check=True, capture_output=True, text=True)
    return (out / "index.html").read_text(encoding="utf-8")


def vega_plots() -> int:
    """The Vega views dvc.yaml declares: each foreach stage's CSV plots once per item, and
    the top-level plots that are no image (a named plot over CSV columns, a CSV file)."""
    import yaml

    from reasonmed.core.params import read_params

    def is_csv(p) -> bool:
        return (next(iter(p)) if isinstance(p, dict) else p).endswith(".csv")

    dvc, params = yaml.safe_load((ROOT / "dvc.yaml").read_text()), read_params(ROOT / "params.yaml")
    n = 0
    for st in dvc["stages"].values():
        csv = sum(is_csv(p) for p in (st.get("do") or st).get("plots") or [])
        items = st.get("foreach", [None])
        if isinstance(items, str):  # ${section.key}: the params list it loops over
            items = params
            for part in st["foreach"].strip("${} ").split("."):
                items = items[part]
        n += csv * len(items)
    return n + sum(isinstance(p, dict) or is_csv(p) for p in dvc.get("plots") or [])


def drawn(page: Path) -> tuple[int, list[str]]:
    """How many Vega views drew on `page` in Chromium with the network off, and what failed."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (a dev dependency)")
    exe, failed = chromium(), []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=exe, headless=True,
                                                    args=LAUNCH_ARGS, offline=True)
        p = ctx.new_page()
        p.on("requestfailed", lambda r: failed.append(r.url))
        p.on("pageerror", lambda e: failed.append(str(e)))
        p.goto(page.as_uri(), wait_until="load")
        p.wait_for_timeout(1500)  # vega-embed draws asynchronously after load
        n = p.locator(".vega-embed canvas, .vega-embed svg.marks").count()
        ctx.close()
    return n, failed


@pytest.mark.slow
def test_loss_curves_render_offline_from_the_vendored_page(tmp_path):
    html = show(tmp_path / "plots")
    assert not re.search(r"<script[^>]*\bsrc=", html), "the page loads a script from elsewhere"
    assert "vegaEmbed" in html and html.count("<img") >= 7  # the PNG figures as well
    n, failed = drawn(tmp_path / "plots/index.html")
    assert n == vega_plots() and not failed, (n, failed)


@pytest.mark.slow
def test_dvcs_own_page_draws_nothing_offline(tmp_path):
    # The converse: without the vendored page the same plots need a CDN and stay blank.
    from dvc_render.html import PAGE_HTML

    (tmp_path / "cdn.html").write_text(PAGE_HTML)
    html = show(tmp_path / "plots", "--html-template", str(tmp_path / "cdn.html"))
    assert "cdn.jsdelivr.net" in html
    n, failed = drawn(tmp_path / "plots/index.html")
    assert n == 0 and any("cdn.jsdelivr.net" in f for f in failed), (n, failed)

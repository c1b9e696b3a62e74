import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MMLEARN_QUIET", "1")

# the settings of a tiny assistant run (it answers nonsense: the tests that use it check behaviour), as `--set` flags
TINY_ASSISTANT = {"samples": 120, "epochs": 1, "align_epochs": 1, "pretrain_passes": 1, "texts": 2000, "vocab": 512,
                  "dim": 32, "layers": 1, "digits": 0}


@pytest.fixture(scope="session")
def tiny_assistant_flags() -> list:
    "`--set KEY=VALUE` flags for `mmlearn train --task assistant` that train a tiny run in about a minute."
    return [flag for key, value in TINY_ASSISTANT.items() for flag in ("--set", f"{key}={value}")]


CHROMIUM = Path(os.environ.get("MMLEARN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium (Debian's `chromium`) through playwright, one per test process: playwright's sync API runs one
    instance per thread, so the docs-site and JupyterLab checks share it. Skipped without it, except under CI (env CI set), where that fails."""
    why = None
    if not CHROMIUM.exists(): why = f"{CHROMIUM} not found (apt-get install chromium)"
    else:
        try: from playwright.sync_api import sync_playwright
        except ImportError: why = "playwright is not installed (pip install -e '.[dev]')"
    if why:
        if os.environ.get("CI"): pytest.fail(f"browser checks cannot run under CI: {why}")
        pytest.skip(why)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def local_context(chromium):
    """`make(base, also=("data:",), viewport=(1280, 900))` -> (context, outside): a browser context that lets through only
    requests to `base` and the URL prefixes in `also`; every other request is refused and its URL appended to `outside`."""
    def make(base: str, also: tuple = ("data:",), viewport: tuple = (1280, 900)):
        ctx, outside = chromium.new_context(viewport={"width": viewport[0], "height": viewport[1]}), []
        def route(r):
            if r.request.url.startswith((base, *also)): r.continue_()
            else: outside.append(r.request.url); r.abort()
        ctx.route("**/*", route)
        return ctx, outside
    return make

"""The docs site as a reader gets it: `mmlearn docs --out DIR` builds it offline from the notebooks, then
headless Chromium (Debian's `chromium`, driven by playwright) opens every page over a local HTTP server."""
import fcntl
import functools
import html
import http.server
import importlib
import inspect
import json
import os
import re
import subprocess
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(os.environ.get("MMLEARN_SCREENSHOTS", ROOT / "build" / "docs-screenshots"))
# API entries a reader must find: (page, anchor of the show_doc heading, name shown in it)
REQUIRED_API = [("evaluate.html", "corpus_bleu", "corpus_bleu"),
                ("preprocess.audio.html", "log_mel_spectrogram", "log_mel_spectrogram"),
                ("seq2seq.model.html", "seq2seq", "Seq2Seq")]
TUTORIALS = ["preprocess.audio.html", "evaluate.html"]  # the first one built is screenshotted


def page_name(nb: Path) -> str:
    "The page nbdev names after a notebook: `02_preprocess.audio.ipynb` -> `preprocess.audio.html`."
    return re.sub(r"^\d+[a-zA-Z0-9]*_", "", nb.stem.lower()) + ".html"


NOTEBOOKS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    "The site built once per test session (a lock shares it between pytest-xdist workers); (folder, seconds, output)."
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # this session's folder, shared by its workers
    out, log = shared / "site", shared / "site.json"
    with open(shared / "site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not log.exists():
            t = time.perf_counter()
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MMLEARN_QUIET": "1"}
            r = subprocess.run(["mmlearn", "docs", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                               env=env, timeout=900)
            log.write_text(json.dumps({"rc": r.returncode, "seconds": time.perf_counter() - t,
                                       "output": r.stdout + r.stderr}))
    res = json.loads(log.read_text())
    assert res["rc"] == 0, f"mmlearn docs --out failed:\n{res['output'][-3000:]}"
    return out, res["seconds"], res["output"]


def test_a_page_per_notebook_without_directives_or_hidden_cells(site):
    "A page per notebook, each in the navigation; no `#|` directive in the code shown, no hidden cell, TeX drawn as MathML."
    out, secs, output = site
    print(f"site built in {secs:.1f} s")
    assert f"into {out}" in output
    pages = {p.name: p.read_text(encoding="utf-8") for p in out.glob("*.html")}
    for nb in NOTEBOOKS:
        assert page_name(nb) in pages, f"no page for {nb.name}"
        text = pages[page_name(nb)]
        code = html.unescape(re.sub(r"<[^>]+>", "", "\n".join(re.findall(r"<pre.*?</pre>", text, re.S))))
        assert not re.search(r"^\s*#\s*\|", code, re.M), f"{page_name(nb)} shows nbdev directives in its code"
        assert "from fastcore.test import" not in text, f"{page_name(nb)} shows a hidden cell"
        if _has_math(nb): assert "<math" in text and "arithmatex\">\\(" not in text, f"{page_name(nb)}: TeX left, no MathML"
    home = pages["index.html"]
    primary = home[home.index("md-nav--primary"):home.index("md-sidebar--secondary")]  # the left navigation
    nav = re.findall(r'href="([^"#]+\.html)"', primary)
    assert {page_name(nb) for nb in NOTEBOOKS if nb.stem != "index"} <= set(nav), "a page is missing from the navigation"


def _has_math(nb: Path) -> bool:
    "Whether the notebook's prose has TeX between dollars (code spans and blocks left out)."
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    prose = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    prose = re.sub(r"```.*?```|`[^`]*`", "", prose, flags=re.S)
    return bool(re.search(r"\$[^\s$][^$]*\$", prose))


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__(); self.ids = set()
    def handle_starttag(self, tag, attrs):
        self.ids.update(v for k, v in attrs if k in ("id", "name") and v)


@functools.lru_cache(maxsize=None)
def ids_in(path: Path) -> frozenset:
    p = _Ids(); p.feed(path.read_text(encoding="utf-8")); return frozenset(p.ids)


def test_every_exported_name_has_an_api_entry(site):
    "Each public function and class of every module has its show_doc entry where nbdev's index says it is."
    from mmlearn._modidx import d
    out, missing, n = site[0], [], 0
    for mod, syms in d["syms"].items():
        m = importlib.import_module(mod)
        for name in getattr(m, "__all__", []):
            obj = getattr(m, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or obj.__module__ != mod: continue
            n += 1
            page, _, anchor = syms.get(f"{mod}.{name}", ("(not in _modidx)",))[0].partition("#")
            if not (out / page).exists() or anchor not in ids_in(out / page): missing.append(f"{mod}.{name} ({page}#{anchor})")
    assert n > 10 and not missing, f"no API entry for: {', '.join(missing)}"


@pytest.fixture(scope="session")
def served(site):
    "The site on a local HTTP server at a free port of 127.0.0.1 (MkDocs search needs http, not file://)."
    handler = functools.partial(_QuietHandler, directory=str(site[0]))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/", site[0]
    srv.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


def _visit(ctx, url):
    "Open `url`; the problems a reader would meet there, the page and its resolved links."
    page, problems = ctx.new_page(), []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed to load {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status} for {r.url}"))
    page.goto(url, wait_until="networkidle")
    broken = page.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
                           ".map(i => i.getAttribute('src'))")
    problems += [f"image does not load: {src}" for src in broken]
    links = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
    return page, problems, links


def _link_problem(href, base, root):
    "Why an internal link is broken (missing file, or no element with the fragment's id), or None."
    if not href.startswith(base): return None
    u = urlsplit(href)
    path = root / unquote(u.path.lstrip("/"))
    if path.is_dir(): path = path / "index.html"
    if not path.exists(): return f"broken link {href}"
    if u.fragment and path.suffix == ".html" and unquote(u.fragment) not in ids_in(path):
        return f"broken anchor {href}"
    return None


def test_every_page_in_chromium(local_context, served):
    "No console or script errors, nothing fetched from outside, every image loads, no broken internal link or anchor."
    base, root = served
    pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html"))
    assert "index.html" in pages and len(pages) >= len(NOTEBOOKS)
    ctx, outside = local_context(base)
    problems, t = [], time.perf_counter()
    for rel in pages:
        page, found, links = _visit(ctx, base + rel)
        found += [p for p in {_link_problem(h, base, root) for h in links} if p]
        problems += [f"{rel}: {p}" for p in found]
        page.close()
    print(f"{len(pages)} pages checked in Chromium in {time.perf_counter() - t:.1f} s")
    ctx.close()
    assert not outside, f"pages tried to fetch from outside the site: {sorted(set(outside))[:10]}"
    assert not problems, "\n".join(problems)


def test_required_api_entries_and_screenshots(local_context, served):
    "The show_doc entries of corpus_bleu, log_mel_spectrogram and the Seq2Seq model, each with its parameter table."
    base, root = served
    ctx, outside = local_context(base)
    missing = []
    for page_file, anchor, name in REQUIRED_API:
        if not (root / page_file).exists(): missing.append(f"{name}: no page {page_file}"); continue
        page = ctx.new_page()
        page.goto(f"{base}{page_file}#{anchor}", wait_until="networkidle")
        entry = page.evaluate("""([id]) => { const h = document.getElementById(id); if (!h) return null;
            let el = h.nextElementSibling, table = false, code = false;
            while (el && !/^H[1-3]$/.test(el.tagName) && el.tagName !== 'HR') {
                table = table || el.tagName === 'TABLE' || !!el.querySelector('table');
                code = code || !!el.querySelector('pre') || el.tagName === 'PRE'; el = el.nextElementSibling; }
            return {text: h.textContent, visible: h.getBoundingClientRect().height > 0, table, code}; }""", [anchor])
        if not entry or name not in entry["text"] or not entry["visible"]: missing.append(f"{name}: no entry #{anchor} on {page_file}")
        elif not (entry["code"] and entry["table"]): missing.append(f"{name}: entry without signature or parameter table")
        page.close()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tutorial = next((t for t in TUTORIALS if (root / t).exists()), None)
    for name, rel in [("home", "index.html"), ("tutorial", tutorial)]:
        if rel is None: missing.append("no tutorial page to screenshot"); continue
        page = ctx.new_page()
        page.goto(base + rel, wait_until="networkidle")
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
        page.close()
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
    ctx.close()
    assert not outside, f"pages tried to fetch from outside the site: {sorted(set(outside))[:10]}"
    assert not missing, "missing API entries: " + "; ".join(missing)


def test_search_finds_an_api_entry(local_context, served):
    "Typing a function's name into the search box lists its page (the search index is built offline)."
    base, _ = served
    ctx, outside = local_context(base)
    page = ctx.new_page()
    page.goto(base + "index.html", wait_until="networkidle")
    box = page.locator("input.md-search__input")  # in the header on a wide screen
    box.click()
    # Type key by key, as a reader does: Material reads the query on keyup (or when its worker has loaded the index).
    # `fill` sends no keyup, so a fill landing after the worker was ready was never searched (the old flaky failure).
    box.press_sequentially("corpus_bleu", delay=20)
    page.wait_for_selector(".md-search-result__item a[href*='evaluate.html']", timeout=60_000)
    meta = page.locator(".md-search-result__meta").inner_text()
    ctx.close()
    assert re.match(r"\d+ matching documents?", meta), meta
    assert not outside

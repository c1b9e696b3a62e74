"""The widgets in a real browser: JupyterLab serves a small notebook that shows mmlearn's dataset explorer, headless
Chromium (Debian's `chromium`, driven by playwright) runs it, moves the explorer's controls through the page, and the
caption and picture that the kernel sends back must change."""
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CELLS = ["from mmlearn.widgets import dataset_explorer",
         'explorer = dataset_explorer(["shapes", "digits"], n=8)\nexplorer']
SLOW = 150_000  # ms: the kernel imports TensorFlow, which takes a while on a busy machine


def _missing() -> str | None:
    "Why the browser test cannot run here, or None."
    for module, package in (("jupyterlab", "jupyterlab"), ("jupyterlab_widgets", "jupyterlab_widgets"),
                            ("nbformat", "nbformat")):
        if importlib.util.find_spec(module) is None: return f"{package} is not installed (pip install -e '.[dev]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET"):
    "Call the Jupyter server's REST API; the decoded JSON answer (None when empty)."
    req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


@pytest.fixture
def lab(tmp_path):
    "JupyterLab on a free port of 127.0.0.1 serving a temporary folder with explorer.ipynb; (base URL, token). Always shut down."
    why = _missing()
    if why:
        if os.environ.get("CI"): pytest.fail(f"the JupyterLab browser test cannot run under CI: {why}")
        pytest.skip(why)
    import nbformat
    root = tmp_path / "notebooks"; root.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "explorer.ipynb")
    news = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True); news.write_text(json.dumps({"fetchNews": "false"}))  # no "Jupyter news?" prompt
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "TF_CPP_MIN_LOG_LEVEL": "2", "MMLEARN_QUIET": "1"}
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip", "127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.terminals_enabled=False", f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None: pytest.fail(f"JupyterLab exited ({server.returncode}):\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                _api(base, token, "/api/status"); break
            except OSError:
                if time.monotonic() > deadline: pytest.fail(f"JupyterLab did not answer in 120 s:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, token
    finally:
        try: _api(base, token, "/api/shutdown", "POST")  # stops the kernels, then the server
        except OSError: pass
        try: server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGTERM)
            try: server.wait(timeout=10)
            except subprocess.TimeoutExpired: os.killpg(server.pid, signal.SIGKILL); server.wait()
        log.close()


def _shown(page) -> dict:
    "What the explorer shows now: its first caption and the address of its picture."
    return page.evaluate("""() => ({caption: document.querySelector('.mmlearn-caption')?.textContent ?? null,
                                    src: document.querySelector('.widget-image')?.getAttribute('src') ?? null})""")


def _wait_change(page, before: dict, what: str):
    "Wait until the caption and the picture both differ from `before`; return the new state."
    page.wait_for_function("""(b) => { const c = document.querySelector('.mmlearn-caption'), i = document.querySelector('.widget-image');
                                       return c && i && c.textContent !== b.caption && i.getAttribute('src') !== b.src; }""",
                           arg=before, timeout=60_000)
    after = _shown(page)
    assert after["caption"] != before["caption"] and after["src"] != before["src"], f"{what}: the explorer did not redraw"
    return after


def _run_notebook(page, base: str, token: str, name: str):
    "Open notebook `name` in JupyterLab, wait for its kernel, and run all its cells from the Run menu."
    page.goto(f"{base}/lab/tree/{name}?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=SLOW)
    # the notebook's own kernel is up (run before that, JupyterLab would ask which kernel to start)
    page.wait_for_function("""() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                                      .some(e => /Python 3.*\\| Idle/.test(e.textContent))""", timeout=SLOW)
    page.click("li.lm-MenuBar-item:has-text('Run')")
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def _browser_page(local_context, base: str, errors: list):
    "A browser context and page that may fetch only from JupyterLab (the list of refused URLs comes back beside them), its script errors recorded in `errors`."
    ctx, outside = local_context(base, also=("data:", "blob:"), viewport=(1400, 1000))
    page = ctx.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(SLOW)
    return ctx, page, outside


def test_dataset_explorer_in_jupyterlab(local_context, lab, tmp_path):
    "Run the notebook from the Run menu; the slider (keyboard), the random button and the dataset menu each redraw the explorer."
    import numpy as np
    from mmlearn.data.synthetic import handwritten_digits, shapes_scenes
    shapes, digits = [c[0] for c in shapes_scenes(8).captions], [c[0] for c in handwritten_digits(8).captions]
    lucky = int(np.random.default_rng(0).integers(8))  # the random button's first draw (its generator is seeded by the explorer's seed)
    assert lucky != 1 and shapes[lucky] != shapes[1]
    base, token = lab
    t0, errors = time.perf_counter(), []
    ctx, page, outside = _browser_page(local_context, base, errors)
    try:
        _run_notebook(page, base, token, "explorer.ipynb")
        page.wait_for_selector(".mmlearn-caption", timeout=SLOW)
        page.wait_for_selector(".widget-image[src]", timeout=SLOW)
        shown = [_shown(page)]
        assert shown[0]["caption"] == shapes[0] and shown[0]["src"], shown
        # the sample slider, by keyboard, as a user without a mouse would move it
        page.focus(".widget-slider .noUi-handle")
        page.keyboard.press("ArrowRight")
        shown.append(_wait_change(page, shown[-1], "sample slider"))
        assert page.inner_text(".widget-slider .widget-readout").strip() == "1" and shown[-1]["caption"] == shapes[1]
        page.click("button:has-text('random')")
        shown.append(_wait_change(page, shown[-1], "random button"))
        assert page.inner_text(".widget-slider .widget-readout").strip() == str(lucky) and shown[-1]["caption"] == shapes[lucky]
        # the dataset menu: the index stays, the captions are now the digits'
        page.select_option(".widget-dropdown select", "digits")
        shown.append(_wait_change(page, shown[-1], "dataset menu"))
        assert shown[-1]["caption"] == digits[lucky], shown[-1]
    except Exception:
        page.screenshot(path=str(tmp_path / "jupyterlab.png"))  # kept in pytest's tmp folder for a look
        raise
    finally:
        ctx.close()
    seconds = time.perf_counter() - t0
    print(f"JupyterLab browser check: {seconds:.1f} s in the browser; captions shown: {[s['caption'] for s in shown]}")
    assert not errors, f"script errors in JupyterLab: {errors[:5]}"
    assert not outside, f"JupyterLab tried to fetch from outside: {sorted(set(outside))[:10]}"


def test_search_box_in_jupyterlab(local_context, lab, tmp_path):
    "A retrieval run's query box: typing a query and pressing Enter lists the top five gallery items and draws them; a new query changes both."
    import nbformat
    run = tmp_path / "retrieval-run"
    argv = ["mmlearn", "train", "--task", "retrieval", "--samples", "64", "--epochs", "1",
            "--set", "val_samples=64", "--set", "test_samples=64", "--out", str(run)]
    env = {**os.environ, "MMLEARN_QUIET": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from mmlearn.widgets import search_widget"),
                                         nbformat.v4.new_code_cell(f"search_widget({str(run)!r})")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "notebooks" / "search.ipynb")
    base, token = lab
    errors = []
    results_text = "[...document.querySelectorAll('.widget-output pre')].map(e => e.textContent).join('')"   # the listed results, as JS
    ctx, page, outside = _browser_page(local_context, base, errors)
    try:
        _run_notebook(page, base, token, "search.ipynb")
        box = page.locator(".widget-text input")
        box.wait_for(timeout=SLOW)
        shown = []
        for query in ("a small red circle", "a large blue square"):
            box.fill(query); box.press("Enter")
            page.wait_for_function(f"""(before) => {{ const t = {results_text};
                                                     return t.includes('5. ') && t !== before && document.querySelector('.widget-output img'); }}""",
                                   arg=shown[-1] if shown else "", timeout=SLOW)
            shown.append(page.evaluate(f"() => {results_text}"))
            lines = shown[-1].strip().splitlines()
            assert [l.split(".")[0] for l in lines] == ["1", "2", "3", "4", "5"], lines
        assert shown[0] != shown[1], "a new query did not change the results"
    except Exception:
        page.screenshot(path=str(tmp_path / "jupyterlab-search.png"))
        raise
    finally:
        ctx.close()
    print(f"JupyterLab search box: {[s.splitlines()[0] for s in shown]}")
    assert not errors, f"script errors in JupyterLab: {errors[:5]}"
    assert not outside, f"JupyterLab tried to fetch from outside: {sorted(set(outside))[:10]}"


CHAT_QUESTION = "what colour is the circle?"
# every text the answer shows, and whether it is marked done, recorded as the page changes
WATCH_ANSWER = """() => { window.answers = [];
    new MutationObserver(() => { const a = document.querySelector('.mmlearn-answer');
                                 if (a) window.answers.push([a.textContent, a.hasAttribute('data-done')]); })
        .observe(document.body, {subtree: true, childList: true, characterData: true}); }"""


def test_chat_widget_in_jupyterlab(local_context, lab, tmp_path, tiny_assistant_flags):
    """A tiny assistant's chat widget: type a question about a built-in scene, click Send; the answer grows,
    then the attention figure appears."""
    import nbformat
    from mmlearn.apps.assistant import Assistant
    from mmlearn.widgets import chat_examples

    run = tmp_path / "assistant-run"
    r = subprocess.run(
        ["mmlearn", "train", "--task", "assistant", "--out", str(run), *tiny_assistant_flags],
        capture_output=True,
        text=True,
        env={**os.environ, "MMLEARN_QUIET": "1", "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    scene = chat_examples(2)["scene 1"].media  # the widget's first example
    expected = Assistant.load(run).ask(CHAT_QUESTION, image=scene, temperature=1.0, seed=0)
    assert expected.strip(), "sampled at temperature 1, the tiny model should say something"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("from mmlearn.widgets import chat_widget"),
            nbformat.v4.new_code_cell(f"chat_widget({str(run)!r}, examples=2, temperature=1.0)"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "notebooks" / "chat.ipynb")
    base, token = lab
    errors = []
    ctx, page, outside = _browser_page(local_context, base, errors)
    try:
        t0 = time.perf_counter()
        _run_notebook(page, base, token, "chat.ipynb")
        box = page.locator(".widget-text input")
        box.wait_for(timeout=SLOW)
        filled = (
            "() => document.querySelector('.widget-text input').value.length > 0"  # the example's question
        )
        page.wait_for_function(filled, timeout=SLOW)
        page.evaluate(WATCH_ANSWER)
        box.fill(CHAT_QUESTION)
        page.click("button:has-text('Send')")
        page.wait_for_selector(".mmlearn-answer[data-done]", timeout=SLOW)
        drawn = (
            "() => { const i = document.querySelector('img.mmlearn-attention');"
            " return i && i.getAttribute('src') && i.naturalWidth > 100 && i.offsetParent !== null; }"
        )
        page.wait_for_function(drawn, timeout=SLOW)
        shown = page.evaluate("() => document.querySelector('.mmlearn-answer').textContent")
        seen = page.evaluate("() => window.answers")
        errors_shown = page.evaluate(
            "() => [...document.querySelectorAll('.mmlearn-error')].map(e => e.innerText)"
        )
    except Exception:
        page.screenshot(path=str(tmp_path / "jupyterlab-chat.png"))
        raise
    finally:
        ctx.close()
    assert errors_shown == [], errors_shown
    assert " ".join(shown.split()) == " ".join(expected.split()), (shown, expected)
    growing = [text for text, done in seen if not done and text.strip()]
    final = " ".join(expected.split())
    assert growing and all(final.startswith(" ".join(t.split())) for t in growing), seen[:20]
    print(
        f"JupyterLab chat widget: {time.perf_counter() - t0:.1f} s in the browser; the answer showed "
        f"{len(set(growing))} partial texts before {expected[:30]!r}..."
    )
    assert not errors, f"script errors in JupyterLab: {errors[:5]}"
    assert not outside, f"JupyterLab tried to fetch from outside: {sorted(set(outside))[:10]}"

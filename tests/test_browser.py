"""The built website as readers get it, in a real browser: headless Chromium driven by Selenium.

The site is served from its folder on 127.0.0.1 (no internet is needed or used). Needs Debian's
``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); without them these tests skip
and say so. Screenshots of every page, light and dark, go to ``_build/screenshots/``.
"""

import functools
import http.server
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

ROOT = Path(__file__).parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
HREF = re.compile(r'<a\b[^>]*\bhref="([^"]*)"')
ID = re.compile(r'\bid="([^"]+)"')

WAIT_FOR_MATH = """
const done = arguments[arguments.length - 1];
if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) { done("no MathJax"); return; }
MathJax.startup.promise.then(() => done("typeset"), (err) => done("failed: " + err));
"""
# Text a reader sees outside code and typeset math: raw TeX left there means MathJax did not run.
VISIBLE_PROSE = """
const body = document.querySelector("main") || document.body;
const copy = body.cloneNode(true);
copy.querySelectorAll("pre, code, script, style, mjx-container, mjx-assistive-mml").forEach((e) => e.remove());
return copy.innerText;
"""
AUDIO_DURATIONS = """
const done = arguments[arguments.length - 1];
const players = Array.from(document.querySelectorAll("audio"));
const ready = (a) => a.readyState >= 1 ? Promise.resolve() :
  new Promise((ok) => { a.addEventListener("loadedmetadata", ok, {once: true}); a.load(); });
Promise.race([Promise.all(players.map(ready)), new Promise((ok) => setTimeout(ok, 15000))])
  .then(() => done(players.map((a) => a.duration)));
"""
DARK_MODE = """
document.documentElement.dataset.theme = "dark";
document.documentElement.dataset.mode = "dark";
"""
# CSS colours of the page background (body, else the root element) and of the first paragraph's text.
COLOURS = """
let bg = getComputedStyle(document.body).backgroundColor;
if (bg === "rgba(0, 0, 0, 0)") bg = getComputedStyle(document.documentElement).backgroundColor;
const p = document.querySelector("main p") || document.body;
return [bg, getComputedStyle(p).color];
"""
# The alpha (0-255) of the four corner pixels of every output figure.
FIGURE_CORNERS = """
return Array.from(document.querySelectorAll(".cell_output img")).filter((img) => img.naturalWidth > 0).map((img) => {
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const w = c.width - 1, h = c.height - 1;
  return [[0, 0], [w, 0], [0, h], [w, h]].map(([x, y]) => ctx.getImageData(x, y, 1, 1).data[3]);
});
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # one line per request would drown pytest's output
        pass


def rgb(css: str) -> list[float]:
    """``"rgb(r, g, b)"`` or an opaque ``"rgba(r, g, b, 1)"`` -> [r, g, b]; a see-through colour is an error."""
    values = [float(v) for v in re.findall(r"[\d.]+", css)]
    assert len(values) == 3 or values[3] == 1, f"{css} is (partly) transparent"
    return values[:3]


def luminance(rgb: list[float]) -> float:
    """WCAG relative luminance of an sRGB colour given as 0-255 components."""
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: list[float], b: list[float]) -> float:
    """WCAG contrast ratio, 1 (none) to 21 (black on white); 4.5 is the minimum for body text."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_matches_the_wcag_examples():
    assert rgb("rgb(18, 18, 18)") == [18, 18, 18] and rgb("rgba(255, 255, 255, 1)") == [255, 255, 255]
    with pytest.raises(AssertionError, match="transparent"):
        rgb("rgba(0, 0, 0, 0)")
    assert contrast([0, 0, 0], [255, 255, 255]) == pytest.approx(21.0)
    assert contrast([118, 118, 118], [255, 255, 255]) == pytest.approx(4.54, abs=0.01)  # the AA threshold grey
    assert luminance([255, 255, 255]) == pytest.approx(1.0) and luminance([0, 0, 0]) == 0.0


def pages(site: Path) -> list[Path]:
    """Every page of the book (index.html only redirects to the front page)."""
    return sorted((site / "book").glob("*.html"))


@pytest.fixture(scope="module")
def site_url(built_site):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(built_site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("browser tests need Chromium and ChromeDriver: apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="browser tests need selenium: pip install selenium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def open_page(browser, url: str) -> str:
    """Load ``url``, wait for MathJax (where the page has it), and return how typesetting went."""
    browser.get(url)
    return browser.execute_async_script(WAIT_FOR_MATH)


@pytest.mark.book
def test_every_page_loads_cleanly_and_typesets_its_math(browser, site_url, built_site):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for page in pages(built_site):
        name = page.relative_to(built_site).as_posix()
        math = open_page(browser, urljoin(site_url, name))
        errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, f"{name}: console errors {errors}"
        formulas = browser.execute_script("return document.querySelectorAll('.math').length")
        assert math in ("typeset", "no MathJax"), f"{name}: MathJax {math}"
        if formulas:  # (an output may carry math already rendered, on a page that loads no MathJax)
            rendered = browser.execute_script("return document.querySelectorAll('.math mjx-container').length")
            assert rendered == formulas, f"{name}: {rendered} of {formulas} formulas typeset"
        raw = re.findall(r"\$\$|\\\[|\\\(", browser.execute_script(VISIBLE_PROSE))
        assert not raw, f"{name}: raw TeX left in the text: {raw[:3]}"
        browser.save_screenshot(str(SCREENSHOTS / f"{page.stem}-light.png"))


@pytest.mark.book
def test_dark_mode_keeps_text_readable_and_figures_opaque(browser, site_url, built_site):
    figures = 0
    for page in pages(built_site):
        name = page.relative_to(built_site).as_posix()
        open_page(browser, urljoin(site_url, name))
        browser.execute_script(DARK_MODE)
        background, text = (rgb(css) for css in browser.execute_script(COLOURS))
        assert luminance(background) < 0.1, f"{name}: dark mode background {background}"
        assert contrast(background, text) >= 4.5, f"{name}: text {text} on {background}"
        for corners in browser.execute_script(FIGURE_CORNERS):
            figures += 1
            assert min(corners) == 255, f"{name}: a figure with a transparent background would vanish in dark mode"
        browser.save_screenshot(str(SCREENSHOTS / f"{page.stem}-dark.png"))
    assert figures > 50, f"only {figures} output figures were checked"


@pytest.mark.book
def test_the_spoken_digits_play(browser, site_url):
    open_page(browser, urljoin(site_url, "book/part5_2_speech_text.html"))
    durations = browser.execute_async_script(AUDIO_DURATIONS)
    assert len(durations) >= 4, "Part 5.2 embeds audio players"
    assert all(d is not None and 0.1 < d < 5 for d in durations), durations


@pytest.mark.book
def test_every_internal_link_and_anchor_resolves(built_site):
    ids: dict[Path, set[str]] = {}
    broken = []
    for page in sorted(built_site.rglob("*.html")):
        for href in HREF.findall(page.read_text(encoding="utf-8")):
            url = urlparse(href)
            if url.scheme or href.startswith(("//", "mailto:")):
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(built_site)} -> {href}")
                continue
            if url.fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = set(ID.findall(target.read_text(encoding="utf-8")))
                if unquote(url.fragment) not in ids[target]:
                    broken.append(f"{page.relative_to(built_site)} -> {href}")
    assert not broken, f"{len(broken)} broken links, e.g. {broken[:5]}"

"""The HTML reports in headless Chromium: values equal results.json, hostile prompts stay text, screenshots.

Needs Debian's chromium (installed by .ci/run); skipped with a message where it is absent.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from eclipse_bench.bench.app.cli import main

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                                "(apt-get install chromium chromium-driver; .ci/run does it)")

HOSTILE = {
    "p000": "<script>document.title='pwned'</script>",
    "p001": '"><img src=x onerror="document.title=\'pwned\'">',
    "p002": "ünïcødé prompt: 日本語の猫と赤い車 🚗 — ok",
    "p003": "a very long prompt " + "with many words " * 120,
}


def _chromium(session_tmp, *args, url):
    profile = session_tmp / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--window-size=1280,1600", *args, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


class Cells(HTMLParser):
    """Collects (class, data-v, text) of <td> cells and the document title."""

    def __init__(self):
        super().__init__()
        self.cells, self.title, self._td, self._in_title = [], "", None, False
        self.scripts, self.handlers, self.bare_imgs = 0, [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.scripts += tag == "script"
        self.handlers += [(tag, k) for k in a if k.startswith("on")]
        self.bare_imgs += tag == "img" and a.get("src") == "x"
        if tag == "td":
            self._td = [a.get("class", ""), a.get("data-v"), ""]
        if tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "td" and self._td:
            self.cells.append(tuple(self._td))
            self._td = None
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._td is not None:
            self._td[2] += data
        if self._in_title:
            self.title += data


def test_drill_down_and_leaderboard_in_chromium(fake_run, session_tmp, tmp_path):
    long_prompt = HOSTILE["p003"]
    assert len(long_prompt) > 1900
    boxes = {"detect": {"model": "test", "image_size": [64, 64], "classes": {"car": "car"},
                        "detections": [{"id": 0, "label": "car", "score": 0.91, "box": [4, 4, 40, 30]}]},
             "vqa": {"questions": [{"phrase": "a red car", "question": "a red car?", "p_yes": 0.8}]}}
    a = fake_run(tmp_path / "a", {k: [0.8, 0.6] for k in HOSTILE}, prompts=HOSTILE, evidence={"p000": boxes})
    b = fake_run(tmp_path / "b", {k: [0.4, 0.5] for k in HOSTILE}, prompts=HOSTILE, pairing="tiny-karlo")
    drill, board = tmp_path / "drill.html", tmp_path / "board.html"
    assert main(["report", str(a), "--out", str(drill)]) == 0
    assert main(["report", str(a), str(b), "--out", str(board)]) == 0

    dom = _chromium(session_tmp, "--dump-dom", url=drill.as_uri())
    parsed = Cells()
    parsed.feed(dom)
    assert "pwned" not in parsed.title and parsed.title.startswith("eclipse-bench")
    results = json.loads((a / "results.json").read_text())
    assert re.search(r'id="score">\s*' + re.escape(f"{results['score']:.4f}"), dom)
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom  # shown as text
    assert parsed.scripts == 0 and parsed.handlers == [] and parsed.bare_imgs == 0  # nothing injected became markup
    assert HOSTILE["p002"] in dom and long_prompt.strip() in dom
    assert "car 0.91" in dom and "<rect" in dom  # the detection drawn over the image
    assert "a red car? P(yes) 0.800" in dom

    dom = _chromium(session_tmp, "--dump-dom", url=board.as_uri())
    parsed = Cells()
    parsed.feed(dom)
    assert parsed.scripts == 1 and parsed.handlers == [] and "pwned" not in parsed.title  # only our sorting script
    scores = {float(v) for cls, v, _ in parsed.cells if "score" in cls and v}
    expected = {json.loads((d / "results.json").read_text())["score"] for d in (a, b)}
    assert scores == expected
    best = [text for cls, v, text in parsed.cells if "best" in cls]
    assert len(best) == 1 and best[0].startswith(f"{max(expected):.4f}")

    for name, page in (("drill-down", drill), ("leaderboard", board)):
        shot = session_tmp / f"screenshot-{name}.png"
        _chromium(session_tmp, f"--screenshot={shot}", url=page.as_uri())
        with Image.open(shot) as im:
            pixels = np.asarray(im.convert("L"))
        assert pixels.shape == (1600, 1280)   # the window, rendered
        # not a blank page: text and table lines, several thousand dark pixels in the top part where the title and
        # the first rows are
        assert (pixels[:600] < 100).sum() > 2000, name

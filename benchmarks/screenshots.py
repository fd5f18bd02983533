"""Screenshots of the page for the README: the ask page with an answer (wide and 375 px) and
the library.

Starts the service on the seeds (a fresh index in a temporary directory, with the model and
embedding cache of DATA_DIR) or uses a running one given by --url, and drives Debian's
Chromium headless through Playwright (`apt-get install chromium fonts-wqy-zenhei`).

    .venv/bin/python benchmarks/screenshots.py [--url http://127.0.0.1:8000] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUESTION = "耒阳着力打造哪五大产业？"  # Simplified question, answered from a Traditional document


@contextmanager
def seed_service() -> Iterator[str]:
    """The service on a fresh index of seeds/, in this process, on a free loopback port."""
    import uvicorn

    from service.app import create_app
    from service.factory import open_engine
    from service.settings import Settings

    settings = Settings(seeds_dir=ROOT / "seeds")
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(settings, Path(tmp) / "index")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(settings, engine), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
            if hasattr(engine, "close"):
                engine.close()


def shoot(url: str, out: Path) -> list[Path]:
    from urllib.parse import quote

    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, width, height, scale in [("ask.png", 1200, 900, 1), ("ask-375.png", 375, 760, 2)]:
            context = browser.new_context(
                base_url=url,
                viewport={"width": width, "height": height},
                device_scale_factor=scale,
                locale="zh-CN",
            )
            page = context.new_page()
            page.goto(f"/?q={quote(QUESTION)}&mode=hybrid&k=5")
            page.locator(".answer-card blockquote").wait_for(timeout=120_000)
            if width > 600:  # the score parts of the first passage, opened
                page.locator(".hit").first.locator("details.scores summary").click()
            page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
            page.mouse.move(0, 0)
            shots.append(out / name)
            page.screenshot(path=shots[-1])
            context.close()
        context = browser.new_context(
            base_url=url, viewport={"width": 1200, "height": 900}, locale="zh-CN"
        )
        page = context.new_page()
        page.goto("/?view=library")
        page.locator(".doc-item").first.wait_for(timeout=60_000)
        shots.append(out / "library.png")
        page.screenshot(path=shots[-1])
        context.close()
        browser.close()
    return shots


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running service; default: start one on the seeds")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"no {CHROMIUM}: apt-get install chromium fonts-wqy-zenhei", file=sys.stderr)
        return 2
    if args.url:
        shots = shoot(args.url.rstrip("/"), args.out)
    else:
        with seed_service() as url:
            shots = shoot(url, args.out)
    for path in shots:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

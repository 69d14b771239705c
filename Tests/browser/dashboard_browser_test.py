#!/usr/bin/env python3
"""`hyperloom dashboard` in a real browser (Docs/dashboard.md): headless Chromium, driven through its
DevTools protocol, loads the study page during a running study, sees the trial count grow without a
reload, and opens a running trial's live log. With --screenshots DIR it saves a PNG of each page.

    python3 Tests/browser/dashboard_browser_test.py .build/debug/hyperloom [--screenshots Docs/images]

Exit status: 0 passed, 1 failed, 77 skipped (Chromium missing or unable to start; the reason is
printed, and `make test` reports it as SKIPPED, never as passed). Every process it starts is
stopped at the end; the whole run is bounded by DEADLINE seconds.
"""
import base64, json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

DEADLINE = 240
SKIP = 77


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message: str) -> None:
    print(f"dashboard browser test: FAIL: {message}", flush=True)
    raise SystemExit(1)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


class DevTools:
    """A minimal DevTools protocol client over one page target."""

    def __init__(self, ws_url: str):
        import websocket  # pip install websocket-client
        self.ws = websocket.create_connection(ws_url, timeout=10, suppress_origin=True)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    fail(f"{method}: {message['error']}")
                return message.get("result", {})

    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, what: str, timeout: float):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.2)
        fail(f"timed out after {timeout:.0f}s waiting for {what}")

    def screenshot(self, path: str) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print(f"  screenshot {path}", flush=True)


SPEC = """name: browser
metric: loss
mode: min
space:
  lr: {loguniform: [0.001, 1.0]}
  l2: {loguniform: [1.0e-5, 0.1]}
  batch_size: {choice: [16, 32, 64]}
  epochs: 6
  epoch_seconds: 0.5
searcher: {type: random, seed: 3}
trial:
  command: [python3, train.py]
  cwd: .
  env: {OMP_NUM_THREADS: "1"}
  timeout: 2m
budget:
  max_trials: 60
  max_concurrent: 2
"""


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    binary = os.path.abspath(args[0])
    shots = os.path.abspath(args[args.index("--screenshots") + 1]) if "--screenshots" in args else None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not chromium:
        print("dashboard browser test: SKIPPED: no chromium on PATH (apt-get install -y chromium; see README)", flush=True)
        return SKIP
    try:
        import websocket  # noqa: F401
    except ImportError:
        print("dashboard browser test: SKIPPED: the Python package websocket-client is missing (pip install websocket-client)", flush=True)
        return SKIP

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    work = tempfile.mkdtemp(prefix="hyperloom-browser-")
    processes: list = []
    started = time.monotonic()

    def spawn(*command, name: str, **kw):
        log = open(os.path.join(work, name + ".log"), "w")
        p = subprocess.Popen(list(command), cwd=work, stdout=kw.pop("stdout", log), stderr=log, start_new_session=True, **kw)
        processes.append(p)
        return p

    def alarm(*_):
        fail(f"the whole test took more than {DEADLINE}s")

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(DEADLINE)
    try:
        shutil.copy(os.path.join(repo, "Configs/examples/train.py"), work)
        with open(os.path.join(work, "browser.yaml"), "w") as f:
            f.write(SPEC)
        port = free_port()
        broker, feed, replay = (f"tcp://127.0.0.1:{p}" for p in (port, free_port(), free_port()))
        spawn(binary, "broker", "--endpoint", broker, "--feed", feed, "--feed-replay", replay,
              "--feed-journal", os.path.join(work, "feed.journal"), name="broker")
        time.sleep(1)
        spawn(binary, "optimizer", "--broker", broker, "--store", os.path.join(work, "studies.db"), "--feed", feed, name="optimizer")
        spawn(binary, "worker", "--broker", broker, "--slots", "2", "--id", "browser-w1", name="worker")
        dash = spawn(binary, "dashboard", "--broker", broker, "--port", "0", name="dashboard", stdout=subprocess.PIPE, text=True)
        line = dash.stdout.readline().strip()
        if not line.startswith("dashboard: "):
            fail(f"the dashboard did not start: {line!r}; {open(os.path.join(work, 'dashboard.log')).read()}")
        url = line.split(" ", 1)[1]
        study = subprocess.run([binary, "submit", os.path.join(work, "browser.yaml"), "--broker", broker],
                               capture_output=True, text=True, timeout=30)
        if study.returncode != 0:
            fail(f"submit: {study.stderr}")
        study_id = study.stdout.strip().splitlines()[-1]
        print(f"dashboard browser test: {url} study {study_id}", flush=True)

        profile = os.path.join(work, "chromium")
        browser = spawn(chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1280,900", "about:blank",
                        name="chromium")
        active = os.path.join(profile, "DevToolsActivePort")
        end = time.monotonic() + 30
        while not os.path.exists(active) and time.monotonic() < end and browser.poll() is None:
            time.sleep(0.1)
        if not os.path.exists(active):
            print(f"dashboard browser test: SKIPPED: Chromium did not start: {open(os.path.join(work, 'chromium.log')).read()[-500:]}", flush=True)
            return SKIP
        devtools_port = int(open(active).read().split()[0])
        pages = [t for t in get_json(f"http://127.0.0.1:{devtools_port}/json/list") if t["type"] == "page"]
        tab = DevTools(pages[0]["webSocketDebuggerUrl"])
        tab.call("Page.enable")
        tab.call("Runtime.enable")

        # 1. The studies page, then the study page; a marker on window shows there is no reload.
        tab.call("Page.navigate", url=url)
        tab.wait_for(f"document.querySelector('#studies') && document.body.innerText.includes({json.dumps(study_id)})",
                     "the study on the studies page", 60)
        if shots:
            tab.screenshot(os.path.join(shots, "dashboard-studies.png"))
        tab.eval(f"window.__noReload = 1; location.hash = '#/study/{study_id}'")
        first = int(tab.wait_for("document.getElementById('trial-count') && document.getElementById('trial-count').textContent",
                                 "the study page's trial count", 30))
        grown = int(tab.wait_for(f"(n => n > {first} && n)(+(document.getElementById('trial-count') || {{}}).textContent)",
                                 f"the trial count to grow beyond {first} without a reload", 90))
        if tab.eval("window.__noReload") != 1:
            fail("the page reloaded")
        print(f"  trial count grew from {first} to {grown} without a reload", flush=True)
        if shots:
            # Pictures for the docs: a study with some history.
            tab.wait_for("+(document.getElementById('trial-count') || {}).textContent >= 12", "12 trials", 120)
            time.sleep(2.5)
        tab.wait_for("document.querySelectorAll('#charts svg').length > 0", "the study's charts", 30)
        if shots:
            tab.screenshot(os.path.join(shots, "dashboard-study.png"))

        # 2. A running trial's live log: lines appear, then more lines, without a reload.
        running = get_json(url.split("?")[0] + f"api/study?id={study_id}&state=running")["trials"]
        if not running:
            fail("no running trial to open")
        number = running[0]["number"]
        tab.eval(f"location.hash = '#/study/{study_id}/trial/{number}'")
        lines = int(tab.wait_for("(n => n > 0 && n)((document.getElementById('log') || {textContent: ''}).textContent.split('\\n').filter(Boolean).length)",
                                 f"trial {number}'s log", 30))
        more = int(tab.wait_for(f"(n => n > {lines} && n)((document.getElementById('log') || {{textContent: ''}}).textContent.split('\\n').filter(Boolean).length)",
                                f"more lines of trial {number}'s log", 30))
        if tab.eval("window.__noReload") != 1:
            fail("the page reloaded")
        print(f"  trial {number}'s live log grew from {lines} to {more} lines", flush=True)
        if shots:
            tab.screenshot(os.path.join(shots, "dashboard-trial.png"))

        # 3. The fabric page shows the worker.
        tab.eval("location.hash = '#/fabric'")
        tab.wait_for("document.querySelector('#workers') && document.querySelector('#workers').innerText.includes('browser-w1')",
                     "the worker on the fabric page", 30)
        if shots:
            tab.screenshot(os.path.join(shots, "dashboard-fabric.png"))
        print(f"dashboard browser test: passed in {time.monotonic() - started:.1f}s", flush=True)
        return 0
    finally:
        signal.alarm(0)
        for p in reversed(processes):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(processes):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

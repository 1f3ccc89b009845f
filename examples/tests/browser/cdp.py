"""Loads a page in headless Chromium, waits in real time, then prints its
DOM and saves a screenshot: a DevTools client over a bare WebSocket."""
import base64, json, os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.request

url, wait, shot = sys.argv[1], float(sys.argv[2]), sys.argv[3]
profile = tempfile.mkdtemp(prefix="lb-chromium-")
browser = subprocess.Popen(
    ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
     "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1280,1000", url],
    stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
try:
    port = None
    deadline = time.monotonic() + 30
    while port is None and time.monotonic() < deadline:
        line = browser.stderr.readline()
        match = re.search(r"ws://127\.0\.0\.1:(\d+)/", line)
        port = match and int(match.group(1))
    if port is None:
        sys.exit("chromium gave no DevTools address")
    time.sleep(wait)
    pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
    page = next(p for p in pages if p["type"] == "page")
    path = page["webSocketDebuggerUrl"].split(str(port), 1)[1]
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    reader = sock.makefile("rb")
    while reader.readline() not in (b"\r\n", b""):
        pass

    def send(message):
        data = json.dumps(message).encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(data) < 126:
            header += bytes([0x80 | len(data)])
        else:
            header += bytes([0x80 | 126]) + len(data).to_bytes(2, "big")
        sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def receive():
        text = b""
        while True:
            first, second = reader.read(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(reader.read(2), "big")
            elif length == 127:
                length = int.from_bytes(reader.read(8), "big")
            text += reader.read(length)
            if first & 0x80:
                return json.loads(text)

    def call(id, method, params):
        send({"id": id, "method": method, "params": params})
        while True:
            answer = receive()
            if answer.get("id") == id:
                return answer["result"]

    dom = call(1, "Runtime.evaluate", {"expression": "document.documentElement.outerHTML", "returnByValue": True})
    png = call(2, "Page.captureScreenshot", {"format": "png"})
    with open(shot, "wb") as out:
        out.write(base64.b64decode(png["data"]))
    print(dom["result"]["value"])
finally:
    browser.kill()
    browser.wait()
    shutil.rmtree(profile, ignore_errors=True)

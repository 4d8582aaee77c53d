#!/usr/bin/env python3
"""Hostile-client measurements of the debug server (issue 14, item 3).

Starts `http_serve` (tests/http/serve_main.cc) on a loopback port, runs each
case against it and prints one line per case: answer, response bytes, and the
server's RSS (KiB), threads and open fds after the case. Loopback only,
bounded: every case stops by itself.

  python3 tests/http/tools/hostile_clients.py build/bin/http_serve
"""
import gzip, os, socket, subprocess, sys, threading, time

TOKEN = "s3cret-token"


def proc_figures(pid):
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, threads, fds


def exchange(port, data, timeout=5.0, send_chunk=1 << 16):
    """Sends raw bytes, returns (status line, total bytes received)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        for i in range(0, len(data), send_chunk):
            s.sendall(data[i:i + send_chunk])

        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            if len(got) < 4096:
                got += b[:4096]
            exchange.total += len(b)
    except OSError as e:
        return (got.split(b"\r\n")[0].decode(errors="replace") or f"error {e.__class__.__name__}"), exchange.total
    finally:
        s.close()
    return got.split(b"\r\n")[0].decode(errors="replace") or "closed", exchange.total


def run(port, data, **kw):
    exchange.total = 0
    return exchange(port, data, **kw)


def auth(extra=""):
    return f"Authorization: Bearer {TOKEN}{extra}\r\n"


def slow_client(port, stop, interval):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        while not stop.is_set():
            s.sendall(b"X-a: b\r\n")
            stop.wait(interval)
        s.close()
    except OSError:
        pass


def probes(port, n, timeout):
    ok = 0
    for _ in range(n):
        st, _ = run(port, f"GET /metrics HTTP/1.1\r\nHost: x\r\n{auth()}Connection: close\r\n\r\n".encode(),
                    timeout=timeout)
        ok += st.startswith("HTTP/1.1 200")
    return ok


def tab(port, stop):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        while not stop.is_set():
            s.sendall(f"GET /debug/api/summary HTTP/1.1\r\nHost: x\r\n{auth()}\r\n".encode())
            # read one response (Content-Length framed)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            head, body = buf.split(b"\r\n\r\n", 1)
            n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
            while len(body) < n:
                body += s.recv(65536)
            stop.wait(1.0)
    except OSError:
        pass


def main():
    exe = sys.argv[1]
    p = subprocess.Popen([exe, "0", "120", TOKEN], stdout=subprocess.PIPE, text=True)
    url = p.stdout.readline().strip()
    port = int(url.rsplit(":", 1)[1])
    time.sleep(0.2)
    row = lambda name, res: print(f"{name:34s} {res[0][:44]:44s} bytes={res[1]:>10d} "
                                  "rss_kib={} threads={} fds={}".format(*proc_figures(p.pid)), flush=True)
    g = lambda path, extra="": f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth()}{extra}Connection: close\r\n\r\n".encode()
    row("baseline /metrics", run(port, g("/metrics")))
    row("request line 1 MiB", run(port, b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\n\r\n"))
    row("one 64 MiB header", run(port, b"GET /metrics HTTP/1.1\r\nX-big: " + b"a" * (64 << 20) + b"\r\n\r\n", timeout=20))
    row("16 MiB of small headers", run(port, b"GET /metrics HTTP/1.1\r\n" + b"X-a: b\r\n" * (2 << 20) + b"\r\n", timeout=20))
    body = b"0x1+" * (4 << 20)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536]) for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
    row("chunked 16 MiB body", run(port, b"POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\n" + auth().encode() +
                                   b"Transfer-Encoding: chunked\r\n\r\n" + chunked, timeout=20))
    gz = gzip.compress(b"0" * (60 << 20))
    row(f"gzip body {len(gz)//1024} KiB -> 60 MiB", run(port, b"POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\n" + auth().encode() +
                                   b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(gz) + gz, timeout=20))
    row("plain /debug/pprof/", run(port, g("/debug/pprof/")))
    row("Range 0-, x2000 /debug/pprof/", run(port, g("/debug/pprof/", "Range: bytes=" + ",".join(["0-"] * 2000) + "\r\n")))
    row("token %20 variant", run(port, f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer%20{TOKEN}\r\nConnection: close\r\n\r\n".encode()))
    row("token \\0junk variant", run(port, f"GET /metrics HTTP/1.1\r\nHost: x\r\n{auth(chr(0) + 'junk')}Connection: close\r\n\r\n".encode()))
    row("token %73 variant", run(port, f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %73{TOKEN[1:]}\r\nConnection: close\r\n\r\n".encode()))
    sym = b"+".join(b"0x%x" % (0x7fff00000000 + i * 64) for i in range(2000))
    res = run(port, b"POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\n" + auth().encode() +
              b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(sym) + sym, timeout=60)
    row("symbol 2000 unmapped addrs", res)
    s = socket.create_connection(("127.0.0.1", port))
    q = b"0xffffffffff00"
    s.sendall(b"POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\n" + auth().encode() + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(q) + q)
    ans = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        ans += b
    print("   symbol 0xffffffffff00 ->", ans.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip().replace("\n", " | "))
    stop = threading.Event()
    slow = [threading.Thread(target=slow_client, args=(port, stop, 0.5)) for _ in range(4)]
    for t in slow:
        t.start()
    time.sleep(1.0)
    print(f"{'4 slowloris: /metrics probes':34s} answered {probes(port, 5, 2.0)}/5 "
          "rss_kib={} threads={} fds={}".format(*proc_figures(p.pid)), flush=True)
    stop.set()
    for t in slow:
        t.join()
    stop = threading.Event()
    tabs = [threading.Thread(target=tab, args=(port, stop)) for _ in range(4)]
    for t in tabs:
        t.start()
    time.sleep(1.0)
    print(f"{'4 dashboard tabs: /metrics probes':34s} answered {probes(port, 5, 2.0)}/5 "
          "rss_kib={} threads={} fds={}".format(*proc_figures(p.pid)), flush=True)
    stop.set()
    for t in tabs:
        t.join()
    time.sleep(3)
    row("after all (3 s idle)", run(port, g("/metrics")))
    p.terminate()
    p.wait(10)


if __name__ == "__main__":
    main()

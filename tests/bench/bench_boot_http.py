"""make bench: stratad's HTTP boot server against nginx, the same 512 MiB
file (the machine's "kernel") to 1, 8 and 32 concurrent curl clients, both
servers in one network namespace created here, in the same run. Prints the
aggregate MB/s of each and the ratio strata/nginx per concurrency (goal:
at least 0.90), and stratad's peak VmRSS (streaming: it should stay flat).

Clients run in the servers' namespace (loopback path) when stratad's boot
server answers there; a server bound to its interface (SO_BINDTODEVICE)
does not see loopback traffic, and then the clients run on the lab's LAN
host across a veth, for both servers alike; the header says which.

Environment: STRATA_BENCH_REPS (default 3; the median is shown),
STRATA_BENCH_MIB (default 512)."""
import os
import re
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))
import netboot  # noqa: E402
from netboot import KERNEL, SERVER, hexhyp  # noqa: E402

CONCURRENCY = (1, 8, 32)
REPS = int(os.environ.get("STRATA_BENCH_REPS", "3"))
SIZE = int(os.environ.get("STRATA_BENCH_MIB", "512")) << 20
NGINX_PORT = 8081
MACHINES = {"seed": "52:54:00:77:00:01", "ctl1": "52:54:00:77:00:02", "ctl2": "52:54:00:77:00:03",
            "bench": "52:54:00:77:40:01"}
GOAL = 0.90


def write_file(path):
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(SIZE >> 20):
            f.write(block)


def start_nginx(lab, assets, mac):
    prefix = os.path.join(lab.dir, "nginx")
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""user root;
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path {prefix}/tmp/body;
  proxy_temp_path {prefix}/tmp/proxy;
  fastcgi_temp_path {prefix}/tmp/fastcgi;
  uwsgi_temp_path {prefix}/tmp/uwsgi;
  scgi_temp_path {prefix}/tmp/scgi;
  server {{
    listen {SERVER}:{NGINX_PORT};
    location /boot/{hexhyp(mac)}/ {{ alias {assets}/; }}
  }}
}}
""")
    p = lab.spawn(["nginx", "-p", prefix, "-c", conf, "-g", "daemon off;"], ns=lab.ns,
                  log=os.path.join(prefix, "stderr"))
    lab.wait_http(port=NGINX_PORT, proc=p)
    return p


def reachable_from(ns, url):
    r = subprocess.run(["ip", "netns", "exec", ns, "curl", "-s", "-o", "/dev/null", "-m", "5", "-r", "0-0", "-w",
                        "%{http_code}", url], capture_output=True, text=True, timeout=30)
    return r.stdout.strip() == "206"


def run_clients(ns, url, n):
    """n concurrent curls, each fetching the whole file: aggregate MB/s."""
    script = (f'for i in $(seq {n}); do curl -s -o /dev/null -w "%{{http_code}} %{{size_download}} %{{exitcode}} '
              f'%{{errormsg}}\\n" "{url}" & done; wait')
    t0 = time.perf_counter()
    r = subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", script], capture_output=True, text=True, timeout=900)
    dt = time.perf_counter() - t0
    lines = r.stdout.split("\n")[:-1]
    bad = [line for line in lines if not line.startswith(f"200 {SIZE} 0 ")]
    if r.returncode != 0 or len(lines) != n or bad:
        raise SystemExit(f"{url}: {n} clients: incomplete downloads: {bad[:3] or lines[:3]} {r.stderr[-500:]}")
    return n * SIZE / dt / 1e6


class RssPeak:
    def __init__(self, pid):
        self.pid, self.peak, self.running = pid, 0, True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    self.peak = max(self.peak, int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)))
            except (OSError, AttributeError):
                return
            time.sleep(0.02)

    def stop(self):
        self.running = False
        self.thread.join(1)
        return self.peak


def main():
    if not os.path.exists("/usr/sbin/nginx"):
        raise SystemExit("nginx is not installed (Debian's nginx-light; make bench installs it)")
    try:
        lab = netboot.Lab(dhcp=False, prefix="strata-nbb")
    except netboot.Unavailable as e:
        raise SystemExit(str(e))
    d = None
    try:
        assets = os.path.join(lab.dir, "assets")
        os.makedirs(assets)
        write_file(os.path.join(assets, KERNEL))
        with open(os.path.join(assets, netboot.INITRD), "wb") as f:
            f.write(b"\0" * 4096)
        os.chmod(lab.dir, 0o755)
        run = os.path.join(lab.dir, "stratad")
        os.makedirs(run)
        d = netboot.BootStratad(lab, run, netboot.spec(run, MACHINES), assets).start_serving()
        d.lease("bench", 3600)
        nginx = start_nginx(lab, assets, MACHINES["bench"])
        path = f"/boot/{hexhyp(MACHINES['bench'])}/{KERNEL}"
        urls = {"strata": f"http://{SERVER}:{netboot.HTTP_PORT}{path}", "nginx": f"http://{SERVER}:{NGINX_PORT}{path}"}
        where, ns = "loopback, inside the servers' namespace", lab.ns
        if not reachable_from(lab.ns, urls["strata"]):
            where, ns = "over a veth from the LAN host's namespace (stratad does not answer on loopback)", lab.lan
        for name, url in urls.items():
            if not reachable_from(ns, url):
                raise SystemExit(f"{name} does not serve {url}\n{d.output()[-2000:]}")
        results = {}
        rss_before, rss = d.rss_kib(), RssPeak(d.proc.pid)
        for n in CONCURRENCY:
            samples = {"strata": [], "nginx": []}
            for rep in range(REPS):
                order = ("strata", "nginx") if rep % 2 == 0 else ("nginx", "strata")
                for name in order:
                    samples[name].append(run_clients(ns, urls[name], n))
            results[n] = {k: statistics.median(v) for k, v in samples.items()}
        peak = rss.stop()
        if nginx.poll() is not None or d.proc.poll() is not None:
            raise SystemExit("a server died during the benchmark")
        print(f"boot HTTP: {SIZE >> 20} MiB to N concurrent curl clients, {where}; median of {REPS}, aggregate MB/s")
        print(f"{'clients':>8} {'strata':>10} {'nginx':>10} {'strata/nginx':>13}")
        for n, r in results.items():
            ratio = r["strata"] / r["nginx"]
            print(f"{n:>8} {r['strata']:>10.0f} {r['nginx']:>10.0f} {ratio:>13.2f}"
                  f"{'' if ratio >= GOAL else f'  (below the {GOAL:.2f} goal)'}")
        print(f"stratad VmRSS {rss_before // 1024} MiB before, peak {peak // 1024} MiB during the runs")
    finally:
        if d:
            d.kill()
        lab.close()


if __name__ == "__main__":
    main()

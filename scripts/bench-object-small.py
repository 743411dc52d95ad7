#!/usr/bin/env python3
"""Small-object figures for object storage: N 1 KiB PUTs through Swift from 8 parallel
clients (PUT/s), then the time to list the whole container in pages of 10,000.
Each PUT is durable before it is answered (file fsync, rename, directory fsync, then
the SQLite row with synchronous=FULL), so this measures that path.

Usage: $(scripts/venv.sh)/bin/python scripts/bench-object-small.py [N]   (default 100000)
Runs target/debug/onestack (or $ONESTACK_BIN) on a temp state dir and a free port with
the dataplane off; the server and its files go on exit."""
import os, sys, time, subprocess, tempfile, socket, requests, concurrent.futures as cf
binp=os.environ.get("ONESTACK_BIN") or os.path.abspath("target/debug/onestack")
state=tempfile.mkdtemp(prefix="onestack-bench-small.")
prof=os.path.join(state,"p.toml")
text=open("profiles/default.toml").read().replace('dataplane = "host"','dataplane = "off"')
open(prof,"w").write(text)
s=socket.socket(); s.bind(("127.0.0.1",0)); port=s.getsockname()[1]; s.close()
p=subprocess.Popen([binp,"--state-dir",state,"up","--listen",f"127.0.0.1:{port}","--profile",prof],stdout=subprocess.DEVNULL,stderr=open(state+"/log","w"))
base=f"http://127.0.0.1:{port}"
try:
    for _ in range(300):
        try:
            if requests.get(base+"/identity/v3",timeout=1).ok: break
        except Exception: pass
        time.sleep(0.1)
    pw=subprocess.run([binp,"--state-dir",state,"openrc","--user","admin"],capture_output=True,text=True).stdout
    pw=[l.split("=",1)[1].strip().strip("'\"") for l in pw.splitlines() if "OS_PASSWORD=" in l][0]
    r=requests.post(base+"/identity/v3/auth/tokens",json={"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":pw}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}})
    tok=r.headers["X-Subject-Token"]; pid=r.json()["token"]["project"]["id"]
    url=f"{base}/object-storage/v1/AUTH_{pid}/bench"
    h={"X-Auth-Token":tok}
    requests.put(url,headers=h).raise_for_status()
    N=int(sys.argv[1]) if len(sys.argv) > 1 else 100000; body=b"x"*1024
    sess=[requests.Session() for _ in range(8)]
    def put(i):
        r=sess[i%8].put(f"{url}/obj-{i:06d}",data=body,headers=h); r.raise_for_status()
    t=time.time()
    with cf.ThreadPoolExecutor(8) as ex: list(ex.map(put,range(N)))
    dt=time.time()-t
    print(f"{N} PUTs of 1 KiB, 8 clients: {dt:.1f} s, {N/dt:.0f} PUT/s")
    t=time.time(); n=0; marker=""
    while True:
        r=requests.get(url,headers=h,params={"format":"json","marker":marker,"limit":10000}); r.raise_for_status()
        page=r.json()
        if not page: break
        n+=len(page); marker=page[-1]["name"]
    print(f"listing {n} objects (pages of 10,000): {time.time()-t:.2f} s")
finally:
    p.terminate(); p.wait()
    subprocess.run(["rm","-rf",state])

"""Chaos for several `mtls ca serve` instances on one PostgreSQL database (scripts/ha-chaos).

Three instances, each with its own copy of one CA directory, share a fresh database. Eight
clients enroll (each with a fresh single-use token made through the admin API), renew and revoke
in a loop against all three, round robin, retrying on connection errors and 503s. Meanwhile a
random instance is SIGKILLed and restarted on the same port, several times; PostgreSQL is
restarted once (`--pg-restart restart`, a cluster this script started) or every mtls connection
to it is terminated (`--pg-restart terminate`, what a restart does to its clients, for a shared
server); and a watcher fetches the CRL of every instance all along.

Then the checks, each printed with its figures; the exit status is 1 if any failed:
  no 5xx but a retryable 503; 0 duplicate serials; 0 tokens used twice; every certificate answered 201 is in the database;
  every revocation is in the CRL and the OCSP answer of every instance; CRL numbers never go back
  and one number is always the same CRL; the audit rows match the operations.
Loopback only; every process is stopped at the end.
"""

import argparse, base64, http.client, json, os, random, shutil, signal, socket, ssl, subprocess, sys, tempfile
import threading, time, urllib.error, urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

p = argparse.ArgumentParser()
p.add_argument("--mtls", required=True)
p.add_argument("--pg", required=True, help="an admin URL, postgres://USER@HOST:PORT/DB")
p.add_argument("--seconds", type=float, default=60)
p.add_argument("--kills", type=int, default=4)
p.add_argument("--pg-restart", choices=["restart", "terminate", "none"], default="terminate")
p.add_argument("--pg-ctl", help="for --pg-restart restart: the pg_ctl command line prefix, e.g. 'runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D DIR'")
args = p.parse_args()
args.mtls = os.path.abspath(args.mtls)

work = tempfile.mkdtemp(prefix="mtls-chaos-")
db = f"mtls_chaos_{os.getpid()}"
url = args.pg.rsplit("/", 1)[0] + "/" + db
env = dict(os.environ, MTLS_CA_PASSPHRASE="chaos", NO_COLOR="1")
procs = {}
lock = threading.Lock()
stop = threading.Event()


def psql(sql, target=None):
    return subprocess.run(["psql", target or url, "-qtAc", sql], capture_output=True, text=True, check=True).stdout.strip()


def mtls(*a, check=True):
    return subprocess.run([args.mtls, *a], cwd=work, env=env, capture_output=True, text=True, check=check)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


ports = [(free_port(), free_port()) for _ in range(3)]


def start(i):
    api, http = ports[i]
    log = open(os.path.join(work, f"serve{i}.log"), "a")
    p = subprocess.Popen([args.mtls, "ca", "serve", "--dir", f"ca{i}", "--listen", f"127.0.0.1:{api}",
                          "--http-listen", f"127.0.0.1:{http}"], cwd=work, env=env, stdout=log, stderr=log)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", http), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    procs[i] = p


def cleanup():
    stop.set()
    for p in procs.values():
        p.kill()
        p.wait()
    subprocess.run(["psql", args.pg, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], capture_output=True)
    shutil.rmtree(work, ignore_errors=True)


psql(f"CREATE DATABASE {db}", args.pg)
try:
    mtls("ca", "init", "--dir", "ca0", "--subject", "/O=Chaos/CN=Chaos Root", "--policy", "anything", "--store", url)
    for i in (1, 2):
        os.makedirs(os.path.join(work, f"ca{i}"))
        for f in ("ca.crt", "ca.key", "ca.toml"):
            shutil.copy(os.path.join(work, "ca0", f), os.path.join(work, f"ca{i}", f))
    mtls("ca", "--dir", "ca0", "issue", "admin", "--profile", "admin", "--out-dir", ".")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "dev.key", "-subj", "/CN=chaos", "-out", "dev.csr"], cwd=work, capture_output=True, check=True)
    csr = open(os.path.join(work, "dev.csr")).read()
    ca_pem = open(os.path.join(work, "ca0", "ca.crt"), "rb").read()
    ca_cert = x509.load_pem_x509_certificate(ca_pem)
    for i in range(3):
        start(i)

    def ctx(cert=None):
        c = ssl.create_default_context(cafile=os.path.join(work, "ca0", "ca.crt"))
        c.check_hostname = False
        if cert:
            c.load_cert_chain(*cert)
        return c

    admin = ctx((os.path.join(work, "admin.crt"), os.path.join(work, "admin.key")))
    plain = ctx()
    stats = {"201": 0, "retries": 0, "revoked": 0, "renewed": 0, "5xx": [],
             "propagated": 0, "stale": [], "lagging": []}
    issued, revoked = {}, []  # serial -> pem; serials revoked (200)

    def call(i, path, body, context, ok):
        """POST to instance i; (status, json) or None on a retryable failure."""
        api = ports[i][0]
        req = urllib.request.Request(f"https://127.0.0.1:{api}{path}", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=context, timeout=10) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 503:
                return None
            if e.code >= 500:
                with lock:
                    stats["5xx"].append(f"{path} on instance {i}: {e.code} {e.read()[:200]!r}")
                return None
            return e.code, json.loads(e.read() or b"{}")
        except (OSError, ssl.SSLError, http.client.HTTPException, ValueError):
            return None

    def retrying(path, body, context, start_at):
        for attempt in range(60):
            r = call((start_at + attempt) % 3, path, body, context, None)
            if r is not None:
                return r
            with lock:
                stats["retries"] += 1
            time.sleep(0.05)
        raise SystemExit(f"{path}: no instance answered for 60 attempts")

    def client(n):
        k = n
        mine = []
        while not stop.is_set():
            k += 1
            st, tok = retrying("/v1/tokens", {"name": f"c{n}-{k}", "profile": "client"}, admin, k)
            if st != 201:
                continue
            st, got = retrying("/v1/enroll", {"token": tok["token"], "csr": csr}, plain, k + 1)
            if st == 201:
                with lock:
                    stats["201"] += 1
                    issued[got["serial"]] = got["certificate"]
                mine.append(got)
            # Now and then, renew one of ours (mutual TLS with it) or revoke one.
            roll = random.random()
            if mine and roll < 0.15:
                old = mine.pop(0)
                crt = os.path.join(work, f"r{n}.crt")
                open(crt, "w").write(old["certificate"])
                st, got = retrying("/v1/renew", {}, ctx((crt, os.path.join(work, "dev.key"))), k)
                if st == 201:
                    with lock:
                        stats["renewed"] += 1
                        issued[got["serial"]] = got["certificate"]
                    mine.append(got)
            elif mine and roll < 0.35:
                victim = mine.pop(0)
                st, got = retrying("/v1/revoke", {"serial": victim["serial"], "reason": "keyCompromise"}, admin, k)
                if st in (200, 409):  # 409: revoked by an attempt whose answer was lost
                    with lock:
                        revoked.append(victim["serial"])
                if st == 200 and got.get("propagated"):
                    stale = ocsp_not_revoked(victim["certificate"])
                    with lock:
                        stats["propagated"] += 1
                        stats["stale"] += [f"{victim['serial']} on instance {i}: {s}" for i, s in stale]
                elif st == 200:
                    with lock:
                        stats["lagging"].append(got.get("lagging"))

    def ocsp_not_revoked(pem):
        """The instances whose OCSP does not answer 'revoked' for pem, or whose CRL misses it (the
        unreachable skipped)."""
        cert = x509.load_pem_x509_certificate(pem.encode())
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, ca_cert, hashes.SHA1()).build()
        b64 = base64.b64encode(req.public_bytes(serialization.Encoding.DER)).decode()
        out = []
        for i in range(3):
            try:
                der = urllib.request.urlopen(f"http://127.0.0.1:{ports[i][1]}/ocsp/{b64}", timeout=5).read()
            except OSError:
                continue
            resp = ocsp.load_der_ocsp_response(der)
            if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
                continue
            if resp.certificate_status != ocsp.OCSPCertStatus.REVOKED:
                out.append((i, f"OCSP {resp.certificate_status.name}"))
            try:
                crl = x509.load_der_x509_crl(
                    urllib.request.urlopen(f"http://127.0.0.1:{ports[i][1]}/crl", timeout=5).read())
            except OSError:
                continue
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is None:
                out.append((i, "not in its CRL"))
        return out

    crls = {}  # number -> DER, and the last number seen per instance
    crl_errors = []

    def watch_crls():
        last = [0, 0, 0]
        while not stop.is_set():
            for i in range(3):
                try:
                    der = urllib.request.urlopen(f"http://127.0.0.1:{ports[i][1]}/crl", timeout=2).read()
                except OSError:
                    continue
                crl = x509.load_der_x509_crl(der)
                num = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
                with lock:
                    if num in crls and crls[num] != der:
                        crl_errors.append(f"two different CRLs numbered {num}")
                    crls[num] = der
                if num < last[i]:
                    crl_errors.append(f"instance {i} went from CRL {last[i]} back to {num}")
                last[i] = max(last[i], num)
            time.sleep(0.2)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(8)]
    threads.append(threading.Thread(target=watch_crls, daemon=True))
    for t in threads:
        t.start()
    t0 = time.time()
    kills = 0
    pg_done = args.pg_restart == "none"
    while time.time() - t0 < args.seconds:
        time.sleep(args.seconds / (args.kills + 2))
        if kills < args.kills:
            i = random.randrange(3)
            procs[i].send_signal(signal.SIGKILL)
            procs[i].wait()
            kills += 1
            time.sleep(0.3)
            start(i)
        if not pg_done and time.time() - t0 > args.seconds / 2:
            pg_done = True
            if args.pg_restart == "restart":
                # Not captured: the restarted server inherits pg_ctl's output, and would hold a
                # pipe open for as long as it runs.
                subprocess.run(args.pg_ctl.split() + ["-m", "fast", "-w", "restart"], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            else:
                psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()", args.pg)
    stop.set()
    for t in threads:
        t.join(30)
    time.sleep(2)

    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    check(not stats["5xx"], f"answers 5xx other than a retryable 503: {len(stats['5xx'])} {stats['5xx'][:3]}")
    dups = int(psql("SELECT COUNT(*) - COUNT(DISTINCT serial) FROM certs"))
    check(dups == 0, f"duplicate serials: {dups}")
    # A revoke that answered propagated: every instance's OCSP and CRL had it right after it.
    check(not stats["stale"], f"revokes answered propagated: {stats['propagated']}, then an OCSP answer "
          f"not 'revoked' or a CRL without it: {len(stats['stale'])} {stats['stale'][:3]}; answered not propagated: "
          f"{len(stats['lagging'])} {stats['lagging'][:2]}")
    twice = int(psql("SELECT COUNT(*) FROM (SELECT actor FROM audit WHERE action = 'enroll' AND outcome = 'ok' GROUP BY actor HAVING COUNT(*) > 1) t"))
    check(twice == 0, f"tokens used twice: {twice}")
    stored = set(psql("SELECT serial FROM certs").split())
    missing = [s for s in issued if s not in stored]
    check(not missing, f"certificates answered 201 (enrolled or renewed): {len(issued)}, missing from the database: {len(missing)}")
    # The CRL and OCSP of every instance list every revocation (the writer may need a moment).
    def norm(s):
        return s.upper().lstrip("0")

    want = {norm(s) for s in revoked}
    deadline = time.time() + 15
    lists = {}
    while time.time() < deadline:
        for i in range(3):
            try:
                der = urllib.request.urlopen(f"http://127.0.0.1:{ports[i][1]}/crl", timeout=5).read()
            except OSError:
                continue
            lists[i] = {format(r.serial_number, "X") for r in x509.load_der_x509_crl(der)}
        if len(lists) == 3 and all(want <= lists[i] for i in range(3)):
            break
        time.sleep(0.5)
    for i in range(3):
        lost = want - lists.get(i, set())
        check(not lost, f"instance {i}: revocations in its CRL: {len(want) - len(lost)} of {len(want)}")
    not_revoked = 0
    for serial in list(set(revoked))[:200]:
        cert = x509.load_pem_x509_certificate(issued[serial].encode())
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, ca_cert, hashes.SHA1()).build()
        b64 = base64.b64encode(req.public_bytes(serialization.Encoding.DER)).decode()
        for i in range(3):
            resp = ocsp.load_der_ocsp_response(urllib.request.urlopen(f"http://127.0.0.1:{ports[i][1]}/ocsp/{b64}", timeout=5).read())
            if resp.certificate_status != ocsp.OCSPCertStatus.REVOKED:
                not_revoked += 1
                in_db = psql("SELECT revoked_at FROM certs WHERE serial = '%s'" % serial)
                print(f"     instance {i}, serial {serial}: {resp.certificate_status.name}, "
                      f"thisUpdate {resp.this_update_utc}, revoked_at in the database: {in_db}")
    check(not_revoked == 0, f"OCSP answers of 3 instances for {min(len(want), 200)} revoked certificates not 'revoked': {not_revoked}")
    check(not crl_errors, f"CRLs seen: {len(crls)} numbers, from {min(crls or [0])} to {max(crls or [0])}; errors: {crl_errors[:3]}")
    audit_revokes = int(psql("SELECT COUNT(*) FROM audit WHERE action = 'revoke' AND outcome = 'ok'"))
    db_revoked = int(psql("SELECT COUNT(revoked_at) FROM certs"))
    check(audit_revokes == db_revoked and db_revoked >= len(set(revoked)),
          f"revocations: {len(set(revoked))} answered, {db_revoked} in the database, {audit_revokes} audit rows")
    audit_issues = int(psql("SELECT COUNT(*) FROM audit WHERE action IN ('enroll', 'renew') AND outcome = 'ok'"))
    db_certs = int(psql("SELECT COUNT(*) FROM certs WHERE profile = 'client'"))
    check(audit_issues == db_certs and db_certs >= len(issued),
          f"issuances: {len(issued)} answered 201, {db_certs} in the database, {audit_issues} audit rows")
    if failures or stats["lagging"]:
        for i in range(3):
            warned = [l for l in open(os.path.join(work, f"serve{i}.log")) if "warning" in l]
            print(f"     instance {i}: {len(warned)} warnings; the last: {''.join(warned[-8:])}")
    print(f"figures: {stats['201']} enrollments, {stats['renewed']} renewals, {len(set(revoked))} revocations, "
          f"{stats['retries']} retried requests, {kills} instance kills, PostgreSQL {args.pg_restart}, in {args.seconds:.0f} s")
    sys.exit(1 if failures else 0)
finally:
    cleanup()

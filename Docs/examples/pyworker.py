#!/usr/bin/env python3
"""A Hyperloom worker written from Docs/protocol.md alone, with pyzmq.

It registers (READY/WELCOME), heartbeats, runs each ASSIGN's command as a subprocess with the
trial environment, turns `@hyperloom {...}` stdout lines into REPORTs, sends FINAL or FAILED,
holds every update until the broker forwards the client's ACK (resending after a re-registration
and every RESEND seconds), and reconnects with backoff when the broker goes silent.
It runs one trial at a time per slot and ignores checkpoints and CANCEL reasons for brevity.

    python3 pyworker.py --broker tcp://127.0.0.1:5555 [--slots 2] [--id NAME]
"""
import argparse, json, os, re, signal, socket, struct, subprocess, threading, time, uuid
import zmq

HLW1 = b"HLW1"
READY, HEARTBEAT, STARTED, REPORT, FINAL, FAILED, DISCONNECT = 0x01, 0x02, 0x03, 0x04, 0x06, 0x07, 0x0F
WELCOME, ASSIGN, ACK, CANCEL, ERROR = 0x11, 0x12, 0x13, 0x14, 0x1F
RESEND = 5.0
PREFIX = "@hyperloom "


def u32(b): return struct.unpack(">I", b)[0]
def u64(b): return struct.unpack(">Q", b)[0]


class Worker:
    def __init__(self, broker, slots, worker_id):
        self.broker, self.slots, self.id = broker, slots, worker_id
        self.ctx = zmq.Context()
        self.sock = None
        self.heartbeat, self.liveness = 1.0, 3
        self.registered = False
        self.backoff = 1.0
        self.trials = {}          # lease -> (job, attempt, Popen)
        self.pending = {}         # (job, lease, seq) -> [frames, last_sent]
        self.seq = {}             # lease -> last seq
        self.leases = {}          # lease -> (job, attempt, token hex): the ASSIGN's capability, for READY
        self.events = []          # (kind, job, attempt, lease, payload) from trial threads
        self.lock = threading.Lock()

    # -- link -------------------------------------------------------------------------------
    def connect(self):
        if self.sock is not None:
            self.sock.close(linger=0)
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.connect(self.broker)
        self.send_ready()

    def send_ready(self):
        # Every attempt still held (running, or with updates not yet acknowledged), with the
        # capability its ASSIGN carried: a restarted broker adopts only attempts it can verify.
        held_leases = set(self.trials) | {k[1] for k in self.pending}
        held = [{"job": job, "attempt": attempt, "lease": lease, "token": token}
                for lease, (job, attempt, token) in self.leases.items() if lease in held_leases]
        info = {"worker": self.id, "slots": self.slots, "gpus": 0, "heartbeat_ms": int(self.heartbeat * 1000),
                "liveness": self.liveness, "host": socket.gethostname(), "pid": os.getpid(),
                "version": "pyworker", "running": held}
        self.registered = False
        self.connecting_since = time.monotonic()
        self.send([HLW1, bytes([READY]), json.dumps(info).encode()])

    def send(self, frames):
        self.sock.send_multipart(frames)
        self.last_sent = time.monotonic()

    # -- updates ----------------------------------------------------------------------------
    def update(self, kind, job, attempt, lease, payload):
        seq = self.seq.get(lease, 0) + 1
        self.seq[lease] = seq
        frames = [HLW1, bytes([kind]), job.encode(), struct.pack(">I", attempt), struct.pack(">Q", lease),
                  struct.pack(">Q", seq), json.dumps(payload).encode()]
        self.pending[(job, lease, seq)] = [frames, time.monotonic()]
        if self.registered:
            self.send(frames)

    def run_trial(self, job, attempt, lease, spec):
        env = dict(os.environ, **spec.get("env", {}))
        env.update(HYPERLOOM_CONFIG=json.dumps(spec.get("config", {})), HYPERLOOM_TRIAL_ID=job,
                   HYPERLOOM_ATTEMPT=str(attempt), HYPERLOOM_LEASE=str(lease), HYPERLOOM_WORKER_ID=self.id)
        values = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in spec.get("config", {}).items()}
        values.update(trial_id=job, attempt=str(attempt), worker_id=self.id)
        argv = [re.sub(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}", lambda m: values.get(m.group(1), m.group(0)), arg)
                for arg in spec["command"]]
        try:
            proc = subprocess.Popen(argv, env=env, cwd=spec.get("cwd"), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True)
        except OSError as e:
            with self.lock:
                self.events.append((FAILED, job, attempt, lease, {"error": str(e)}))
            return
        with self.lock:
            self.trials[lease] = (job, attempt, proc)
            self.events.append((STARTED, job, attempt, lease, None))
        last = {}
        for line in proc.stdout:
            if line.startswith(PREFIX):
                try:
                    last = json.loads(line[len(PREFIX):])
                except ValueError:
                    continue
                with self.lock:
                    self.events.append((REPORT, job, attempt, lease, last))
        stderr = proc.stderr.read()
        code = proc.wait()
        result = (FINAL, {"metrics": last, "exit_code": 0}) if code == 0 else \
                 (FAILED, {"error": f"exit code {code}", "exit_code": code, "stderr_tail": stderr[-4096:], "metrics": last})
        with self.lock:
            self.events.append((result[0], job, attempt, lease, result[1]))

    def drain_events(self):
        with self.lock:
            events, self.events = self.events, []
        for kind, job, attempt, lease, payload in events:
            if kind == STARTED:
                if self.registered:
                    self.send([HLW1, bytes([STARTED]), job.encode(), struct.pack(">I", attempt), struct.pack(">Q", lease)])
            else:
                if kind in (FINAL, FAILED):
                    self.trials.pop(lease, None)
                self.update(kind, job, attempt, lease, payload)

    # -- messages from the broker -----------------------------------------------------------
    def handle(self, frames):
        if len(frames) < 2 or frames[0] != HLW1:
            return
        cmd = frames[1][0]
        if cmd == WELCOME:
            info = json.loads(frames[2])
            self.heartbeat, self.liveness = info["heartbeat_ms"] / 1000, info["liveness"]
            self.registered, self.backoff = True, 1.0
            for key in sorted(self.pending, key=lambda k: (k[1], k[2])):   # resend in order
                self.pending[key][1] = time.monotonic()
                self.send(self.pending[key][0])
        elif cmd == ASSIGN:
            job, attempt, lease = frames[2].decode(), u32(frames[3]), u64(frames[4])
            if lease not in self.leases:
                self.leases[lease] = (job, attempt, frames[6].hex())
                threading.Thread(target=self.run_trial, args=(job, attempt, lease, json.loads(frames[5])), daemon=True).start()
        elif cmd == ACK:
            self.pending.pop((frames[2].decode(), u64(frames[3]), u64(frames[4])), None)
            lease = u64(frames[3])
            if lease not in self.trials and not any(k[1] == lease for k in self.pending):
                self.leases.pop(lease, None)
        elif cmd == CANCEL:
            trial = self.trials.get(u64(frames[3]))
            if trial:
                os.killpg(trial[2].pid, signal.SIGTERM)
        elif cmd == DISCONNECT:
            if frames[2] == b"reregister":
                self.send_ready()
            else:
                raise SystemExit(0)
        elif cmd == ERROR:
            print("broker error:", frames[2].decode())

    def run(self):
        stopping = []
        # A parent may have spawned us with these blocked (the mask is inherited): unblock them.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))   # leave gracefully
        signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
        self.connect()
        last_heard = time.monotonic()
        while not stopping:
            if self.sock.poll(100):
                while self.sock.poll(0):
                    self.handle(self.sock.recv_multipart())
                last_heard = time.monotonic()
            self.drain_events()
            now = time.monotonic()
            if now - last_heard > self.heartbeat * self.liveness:        # the broker is dead
                self.registered = False
                time.sleep(self.backoff)
                self.backoff = min(self.backoff * 2, 32.0)
                self.connect()
                last_heard = time.monotonic()
            elif self.registered:
                if now - self.last_sent >= self.heartbeat:
                    self.send([HLW1, bytes([HEARTBEAT])])
                for entry in self.pending.values():
                    if now - entry[1] >= RESEND:
                        entry[1] = now
                        self.send(entry[0])
        for _, _, proc in self.trials.values():                              # stop trials, say goodbye
            os.killpg(proc.pid, signal.SIGTERM)
        self.send([HLW1, bytes([DISCONNECT])])
        self.sock.close(linger=500)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--broker", default=os.environ.get("HYPERLOOM_BROKER", "tcp://127.0.0.1:5555"))
    p.add_argument("--slots", type=int, default=1)
    p.add_argument("--id", default=f"py-{socket.gethostname()}-{uuid.uuid4().hex[:6]}")
    a = p.parse_args()
    Worker(a.broker, a.slots, a.id).run()

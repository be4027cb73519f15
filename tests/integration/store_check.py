#!/usr/bin/env python3
"""Does the store agree with the host?  Used by t_heal.sh and tests/soak/run.

    store_check.py RUN_PATH RUNTIME_DIR [--orphans CGROUP_ROOT]

Reads the store files themselves (cell.yaml, containers/*.yaml), never
through kuke (whose reads observe and would hide a stale store), and the
truth: `runc --root RUNTIME_DIR/runc/<ns> list`, the monitors' exit records
in RUNTIME_DIR/bundles/<ns>/<id>/exit.  Prints one line per disagreement and
exits 1 if there is any.

Per container: stored Ready/Paused <=> runc says running/paused/created;
stored Exited/Error => an exit record with the stored exit code.  Per cell:
stored Stopped/Pending/Failed => none of its containers runs; Ready => one
does.  With --orphans, also nothing the store does not know: runc
containers, monitor processes, mounts under RUNTIME_DIR, cell cgroups under
CGROUP_ROOT, and temp files (.tmp-<pid>-<hex>) of writers that are gone.

STORE_CHECK_EXITS_AFTER=<epoch seconds>: a container stored Ready whose exit
record was written at or after that time ended on its own after the pass
being checked looked at it (a container that fails every few seconds, a
short `run --rm` one): not a disagreement, nor its cell stored Ready.
"""
import fcntl
import glob
import json
import os
import re
import subprocess
import sys

import yaml

RUNNING = {"running", "paused", "created"}


def load(path):
    with open(path) as f:
        return yaml.safe_load(f) or {}


def runc_list(rt):
    out = {}
    for root in glob.glob(os.path.join(rt, "runc", "*")):
        ns = os.path.basename(root)
        p = subprocess.run(["runc", "--root", root, "list", "-f", "json"], capture_output=True, text=True)
        for c in json.loads(p.stdout or "null") or []:
            out[(ns, c["id"])] = c["status"]
    return out


def store_cells(rp):
    """(realm ns, cell dir, cell doc, [container docs])"""
    for realm_yaml in glob.glob(os.path.join(rp, "*", "realm.yaml")):
        ns = load(realm_yaml).get("spec", {}).get("namespace")
        realm_dir = os.path.dirname(realm_yaml)
        for cell_yaml in glob.glob(os.path.join(realm_dir, "*", "*", "*", "cell.yaml")):
            cdir = os.path.dirname(cell_yaml)
            ctrs = [load(p) for p in sorted(glob.glob(os.path.join(cdir, "containers", "*.yaml")))]
            yield ns, cdir, load(cell_yaml), ctrs


def exit_record(rt, ns, cid):
    try:
        with open(os.path.join(rt, "bundles", ns, cid, "exit")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ended_since(rt, ns, cid):
    since = os.environ.get("STORE_CHECK_EXITS_AFTER")
    try:
        return since is not None and os.stat(os.path.join(rt, "bundles", ns, cid, "exit")).st_mtime >= float(since)
    except OSError:
        return False


def check_agreement(rp, rt, runc, problems, known):
    for ns, cdir, cell, ctrs in store_cells(rp):
        name = os.path.relpath(cdir, rp)
        cstate = cell.get("status", {}).get("state")
        running, ended = [], False
        for c in ctrs:
            cid = c.get("spec", {}).get("containerdId")
            st = c.get("status", {}).get("state")
            known.add((ns, cid))
            rs = runc.get((ns, cid), "absent")
            up = rs in RUNNING
            if up:
                running.append(cid)
            where = f"{name}: container {cid}: store {st}, runc {rs}"
            if st in ("Ready", "Paused") and not up:
                if ended_since(rt, ns, cid):
                    ended = True
                else:
                    problems.append(where)
            elif up and st not in ("Ready", "Paused"):
                problems.append(where)
            elif st in ("Exited", "Error"):
                ex = exit_record(rt, ns, cid)
                code = c.get("status", {}).get("exitCode", 0)
                if ex is None:
                    problems.append(f"{where}, no exit record")
                elif ex.get("exitCode") != code:
                    problems.append(f"{where}, exit code {code} stored, {ex.get('exitCode')} recorded")
        if cstate in ("Stopped", "Pending", "Failed") and running:
            problems.append(f"{name}: cell {cstate} but runc runs {' '.join(running)}")
        if cstate == "Ready" and not running and not ended:
            problems.append(f"{name}: cell Ready but nothing runs")


def check_orphans(rp, rt, cgroot, runc, problems, known):
    for key, st in sorted(runc.items()):
        if key not in known:
            problems.append(f"orphan runc container {key[1]} ({st}) in {key[0]}")
    bundles = os.path.join(rt, "bundles") + "/"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/cmdline") as f:
                argv = f.read().split("\0")
        except OSError:
            continue
        if comm != "kukeon-monitor" or "--dir" not in argv:
            continue
        d = argv[argv.index("--dir") + 1]
        if not d.startswith(bundles):
            continue
        ns, cid = os.path.relpath(d, bundles).split("/")[:2]
        if (ns, cid) not in known:
            problems.append(f"orphan monitor {pid} of {cid}")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp.startswith(bundles):
                ns, cid = os.path.relpath(mp, bundles).split("/")[:2]
                if (ns, cid) not in known:
                    problems.append(f"orphan mount {mp}")
    cells = {os.path.relpath(cdir, rp) for _, cdir, _, _ in store_cells(rp)}
    for d in glob.glob(os.path.join(rp, "*", "*", "*", "*", ".lock")):
        if os.path.relpath(os.path.dirname(d), rp) not in cells:
            problems.append(f"unborn cell directory {os.path.dirname(d)} (no cell.yaml)")
    root = cgroot.strip("/")
    for hier in glob.glob("/sys/fs/cgroup/*/" + root) + glob.glob("/sys/fs/cgroup/" + root):
        for d in glob.glob(os.path.join(hier, "*", "*", "*", "*")):
            if os.path.isdir(d) and os.path.relpath(d, hier) not in cells:
                problems.append(f"orphan cgroup {d}")
    tmp = re.compile(r"^\.tmp-(\d+)-[0-9a-f]+$")
    for top in (rp, rt):
        for dirpath, dirs, files in os.walk(top):
            # Not the store's or kukeon's files: container layers and rootfs
            # (and the run path once, when it is inside the runtime dir).
            skip = ("rootfs", "upper", "work", "snapshots", "blobs")
            dirs[:] = [x for x in dirs if x not in skip and (top == rp or os.path.join(dirpath, x) != rp)]
            for fn in files:
                m = tmp.match(fn)
                if m and not os.path.exists(f"/proc/{m.group(1)}"):
                    problems.append(f"orphan temp file {os.path.join(dirpath, fn)}")


def main():
    rp, rt = sys.argv[1], sys.argv[2]
    cgroot = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--orphans" else None
    # The store's tree lock, shared: no reconcile pass or command changes
    # anything between what runc says and what the store says.
    lock = open(os.path.join(rp, ".lock"), "a")
    fcntl.flock(lock, fcntl.LOCK_SH)
    runc = runc_list(rt)
    problems, known = [], set()
    check_agreement(rp, rt, runc, problems, known)
    if cgroot:
        check_orphans(rp, rt, cgroot, runc, problems, known)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

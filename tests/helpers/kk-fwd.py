#!/usr/bin/env python3
"""kk-fwd LISTEN TARGET: a unix socket at LISTEN whose every connection is
relayed, bytes only, to TARGET — what a tunnel (ssh -L, socat) gives a
client: no SCM_RIGHTS, no peer credentials of the client at the target."""
import os, socket, sys, threading

def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def main():
    listen, target = sys.argv[1], sys.argv[2]
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(listen)
    os.chmod(listen, 0o666)
    srv.listen(64)
    while True:
        c, _ = srv.accept()
        t = socket.socket(socket.AF_UNIX)
        try:
            t.connect(target)
        except OSError:
            c.close()
            continue
        for a, b in ((c, t), (t, c)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()

main()

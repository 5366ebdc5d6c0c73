"""The code that runs inside the sandbox: a zygote that forks one child per submission.

This file is started by :mod:`autograder.sandbox` as ``python -I -S child.py CONFIG_JSON``
inside bubblewrap. It imports only the standard library, NumPy, JAX and the
items module (visible cases and probes, which students have anyway); it never
sees hidden cases' expected values, solutions or other submissions.

Process tree for one submission (namespaces only in the strong mode)::

    zygote (root in the sandbox, jax imported, backend NOT initialised, no threads)
      `- handle   new session and process group; unshare(mount, pid, ipc); killed (as a group) to stop all
           `- init (pid 1 of a fresh pid namespace): fresh /proc, tmpfs /tmp and HOME; reaps
                `- student: rlimits, own uid, no_new_privs; runs cells, answers probes

When ``init`` exits every process of the namespace dies, so background
processes a student starts never outlive the submission.

Protocol (JSON lines; requests on fd ``REQ``, answers on fd ``RESP``; the
student's stdout/stderr go to a third pipe, so prints cannot forge answers):

* ``{"op": "run", "cells": [[index, source], ...]}`` -> ``{"op": "cell", "index": i,
  "status": "start"}`` then ``{"op": "cell", "index": i, "status": "ok"|"error",
  "kind": ..., "error": ...}`` per cell, then ``{"op": "ready"}``.
* ``{"op": "probe", "grade_id": g, "args": plain, "kwargs": plain, "jaxpr": bool}`` ->
  ``{"op": "result", "seq": n, "ok": true, "value": plain, "primitives": [...]}`` or
  ``{"op": "result", "ok": false, "kind": "TypeError", "error": "..."}``.
* When the student process ends, ``init`` adds ``{"op": "exit", "code": c, "signal": s}``.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import sys

CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWIPC = 0x00020000, 0x20000000, 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
REQ, RESP = 3, 4  # the student's protocol fds (0 is /dev/null, 1 and 2 the output pipe)
GRADER_CONFIG = (("jax_enable_x64", False), ("jax_disable_jit", False), ("jax_platforms", "cpu"),
                 ("jax_numpy_rank_promotion", "allow"), ("jax_debug_nans", False))

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(src.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                       data.encode() if data else None), f"mount {target}")


# --------------------------------------------------------------------------- student side


def _jsonline(fd: int, obj: dict) -> None:
    data = (json.dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


class _Lines:
    """Read JSON lines from a pipe fd."""

    def __init__(self, fd: int):
        self.fd, self.buf = fd, b""

    def read(self) -> dict | None:
        while b"\n" not in self.buf:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def _grader_config(jax, cache: str | None = None) -> None:
    """Re-apply the grader's JAX settings (a student's ``jax.config.update`` is undone)."""
    extra = (("jax_compilation_cache_dir", cache), ("jax_persistent_cache_min_compile_time_secs", 0),
             ("jax_persistent_cache_min_entry_size_bytes", -1)) if cache else ()
    for name, value in (*GRADER_CONFIG, *extra):
        try:
            jax.config.update(name, value)
        except Exception:  # noqa: BLE001 - an option this JAX version lacks
            pass


def _share_lowering_context() -> None:
    """One MLIR context for every lowering in this process (JAX makes a fresh one per lowering).

    Each eager ``jnp`` operation a notebook runs is lowered to StableHLO before its
    executable is looked up in the compilation cache; building and loading the
    dialects of a new context is about 40 % of that cost. A student process lives
    for one submission, so the context's growth does not matter, and the modules
    (hence the cache keys and the results) are the same. No effect where this JAX
    lacks the function.
    """
    import functools

    try:
        from jax._src.interpreters import mlir
    except ImportError:
        return
    make = getattr(mlir, "make_ir_context", None)
    if callable(make) and not hasattr(make, "cache_info"):
        mlir.make_ir_context = functools.lru_cache(maxsize=1)(make)


def _error(exc: BaseException) -> dict:
    return {"kind": type(exc).__name__, "error": f"{type(exc).__name__}: {str(exc)[:2000]}"}


def _pack_args(value):
    """Undo the tuple marking of :func:`autograder.grade.pack_args` after ``from_plain``."""
    if isinstance(value, dict) and set(value) == {"__tuple__"}:
        return tuple(_pack_args(v) for v in value["__tuple__"])
    if isinstance(value, list):
        return [_pack_args(v) for v in value]
    if isinstance(value, dict):
        return {k: _pack_args(v) for k, v in value.items()}
    return value


def _primitives(jaxpr, out: set) -> set:
    """All primitive names in a (closed) jaxpr, sub-jaxprs included."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    for eqn in jaxpr.eqns:
        out.add(eqn.primitive.name)
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else (param,):
                if hasattr(sub, "eqns") or hasattr(getattr(sub, "jaxpr", None), "eqns"):
                    _primitives(sub, out)
    return out


def _probe(req: dict, ns: dict, items: dict, jax, cases, cache: str | None) -> dict:
    item = items.get(req["grade_id"])
    if item is None:
        return {"ok": False, "kind": "GraderError", "error": f"unknown item {req['grade_id']}"}
    if item.name not in ns:
        return {"ok": False, "kind": "NameError", "error": f"{item.name} is not defined in the notebook"}
    obj = ns[item.name]
    case = cases.Case(args=tuple(_pack_args(cases.from_plain(req["args"]))),
                      kwargs=_pack_args(cases.from_plain(req["kwargs"])))
    _grader_config(jax, cache)
    out: dict = {"ok": True}
    try:
        value = cases.call_probe(item, obj, case)
        out["value"] = cases.to_plain(value)
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
        return {"ok": False, **_error(exc)}
    if req.get("jaxpr"):
        try:
            _grader_config(jax, cache)
            out["primitives"] = sorted(_primitives(jax.make_jaxpr(lambda: cases.call_probe(item, obj, case))(), set()))
        except BaseException as exc:  # noqa: BLE001 - not traceable (NumPy code): no jaxpr check
            out["jaxpr_error"] = _error(exc)["error"]
    return out


def _run_cells(req: dict, ns: dict) -> None:
    for index, source in req["cells"]:
        _jsonline(RESP, {"op": "cell", "index": index, "status": "start"})
        msg = {"op": "cell", "index": index, "status": "ok"}
        try:
            code = compile(source, f"<cell {index}>", "exec")
        except BaseException as exc:  # noqa: BLE001 - SyntaxError and friends
            _jsonline(RESP, {**msg, "status": "error", **_error(exc)})
            continue
        try:
            exec(code, ns)  # noqa: S102 - the student's code, in the sandbox
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
            msg = {**msg, "status": "error", **_error(exc)}
        _jsonline(RESP, msg)
    _jsonline(RESP, {"op": "ready"})


def student_main(config: dict) -> None:
    """Serve one submission: run its cells, then answer probes until EOF."""
    import importlib

    import jax

    from medjax.selfcheck import cases

    _grader_config(jax, config.get("jax_cache"))
    jax.devices()  # initialise the backend now, with the grader's XLA_FLAGS, before student code
    _share_lowering_context()
    module = importlib.import_module(config["items_module"])
    items = {item.grade_id: item for item in module.ITEMS}
    ns: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    lines = _Lines(REQ)
    while True:
        try:
            req = lines.read()
        except BaseException:  # noqa: BLE001 - garbage on the pipe: stop serving
            req = None
        if req is None:
            break
        if req.get("op") == "run":
            _run_cells(req, ns)
        elif req.get("op") == "probe":
            _jsonline(RESP, {"op": "result", "seq": req.get("seq"),
                             **_probe(req, ns, items, jax, cases, config.get("jax_cache"))})
    os._exit(0)


# --------------------------------------------------------------------------- zygote side


def _set_limits(limits: dict) -> None:
    import resource

    for name, value in limits.items():
        res = getattr(resource, name)
        value = int(value)
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            soft, hard = resource.getrlimit(res)
            resource.setrlimit(res, (min(value, hard) if hard >= 0 else value, hard))


def _become_student(spec: dict, strong: bool) -> None:
    """In the student process: limits, an unprivileged uid, no new privileges."""
    if strong:
        os.setgroups([])
        os.setresgid(spec["uid"], spec["uid"], spec["uid"])
        os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _set_limits(spec["limits"])
    home = spec["home"]
    os.environ.clear()
    os.environ.update(spec["env"])
    os.environ["HOME"] = home
    os.environ["TMPDIR"] = spec["tmp"]
    os.chdir(home)


def _fresh_dirs(spec: dict) -> None:
    """In init (strong mode): private mounts, a fresh /proc, tmpfs /tmp and HOME."""
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    size = int(spec["tmpfs_bytes"])
    for path in ("/tmp", os.path.dirname(spec["home"])):
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    os.makedirs(spec["home"], exist_ok=True)
    os.chown(spec["home"], spec["uid"], spec["uid"])
    os.chmod(spec["home"], 0o700)
    cache = spec.get("jax_cache")
    if cache and spec.get("cache_writable"):
        os.chown(cache, spec["uid"], spec["uid"])  # the trusted warm-up fills it
    elif cache:
        _mount(cache, cache, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")


def _init(spec: dict, fds: list[int], strong: bool) -> None:
    """pid 1 of the submission's namespace: start the student, reap, report its exit."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    if strong:
        _fresh_dirs(spec)
    else:
        os.makedirs(spec["home"], exist_ok=True)
    import fcntl

    req, resp, out = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds)
    for fd in fds:
        os.close(fd)
    pid = os.fork()
    if pid == 0:
        try:
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.dup2(req, REQ)
            os.dup2(resp, RESP)
            os.closerange(RESP + 1, 1 << 16)
            _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            _become_student(spec, strong)
            student_main(spec)
        except BaseException as exc:  # noqa: BLE001
            try:
                _jsonline(RESP, {"op": "fatal", **_error(exc)})
            finally:
                os._exit(70)
    os.close(req)
    os.close(out)
    code, sig = 0, 0
    while True:
        try:
            wpid, status = os.wait()
        except ChildProcessError:
            break
        if wpid == pid:
            code, sig = os.waitstatus_to_exitcode(status), 0
            if code < 0:
                code, sig = 0, -code
            break
    try:
        _jsonline(resp, {"op": "exit", "code": code, "signal": sig})
    except OSError:
        pass
    os._exit(0)


def _handle(spec: dict, fds: list[int], strong: bool) -> None:
    """Between zygote and init: new namespaces for everything below, then wait."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()  # one process group for the whole submission: the zygote kills it at once
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    if strong:
        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC), "unshare")
    pid = os.fork()
    if pid == 0:
        _init(spec, fds, strong)
    for fd in fds:
        os.close(fd)
    try:
        os.waitpid(pid, 0)
    finally:
        os._exit(0)


def zygote_main(config: dict) -> None:
    """Import the heavy modules once, then fork one sandboxed child per request."""
    import importlib

    import numpy  # noqa: F401
    import jax  # noqa: F401  (backend deliberately not initialised: forking stays safe)
    import jax.numpy  # noqa: F401

    importlib.import_module("medjax.selfcheck.cases")
    importlib.import_module(config["items_module"])
    # no compiler runs for student code (medjax keeps its pure-XLA gradients); not an environment
    # variable, which a submission could read to tell that it is being graded
    importlib.import_module("medjax.native").disable()
    for name in config.get("preload", ()):  # what notebooks commonly import (fonts cached once)
        try:
            module = importlib.import_module(name)
            if name == "matplotlib.font_manager":
                module.findfont("DejaVu Sans")
        except Exception:  # noqa: BLE001 - optional
            pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handles are reaped automatically
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=config["control_fd"])
    handles: dict[int, int] = {}
    _jsonline(config["control_fd"], {"op": "zygote-ready"})
    while True:  # one request per packet (SOCK_SEQPACKET)
        msg, fds, _flags, _addr = socket.recv_fds(control, 1 << 16, 8)
        if not msg:
            break
        req = json.loads(msg)
        if req["op"] == "spawn" and len(fds) == 3:
            pid = os.fork()
            if pid == 0:
                control.close()
                _handle({**config, **req}, fds, config["strong"])
            handles[req["id"]] = pid
        elif req["op"] == "kill" and req["id"] in handles:
            try:
                os.kill(handles.pop(req["id"]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        for fd in fds:
            os.close(fd)
    os._exit(0)


if __name__ == "__main__":
    _config = json.loads(sys.argv[1])
    sys.path[:0] = _config["sys_path"]
    zygote_main(_config)

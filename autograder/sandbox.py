"""The sandbox for students' code: bubblewrap, namespaces, rlimits and process-tree kills.

One *zygote* per grader run is started inside bubblewrap (``bwrap``): no network
(new network namespace), its own pid/ipc/uts namespaces, a filesystem made of
read-only binds of only what Python needs (``/usr``, the Python install, the
virtual environment, the ``medjax`` package, ``child.py`` and the items module)
plus tmpfs ``/tmp`` and ``/home``. The zygote imports NumPy and JAX once (backend
not initialised, so forking is safe) and forks one child per submission
(:mod:`autograder.child`): each gets new mount/pid/ipc namespaces, fresh tmpfs
``/tmp`` and HOME, its own unprivileged uid, ``no_new_privs`` and rlimits
(address space, CPU time, processes, file size, open files, no core files).
Killing a child kills its whole pid namespace, so forked background processes
die with it.

Where ``bwrap`` is missing or cannot create namespaces, :func:`strong_mode_available`
is False and the grader runs in a documented *weaker mode*: the same process
tree, rlimits, clean environment and fresh HOME, but no namespaces (the student
can see the host filesystem as the grader's user, and may reach the network).
See ``autograder/SECURITY.md``.

>>> SandboxLimits().memory_bytes // 2**30
4
"""
from __future__ import annotations

import functools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

CHILD_SCRIPT = Path(__file__).with_name("child.py")
XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false"
STUDENT_HOME = "/home/student"
JAX_CACHE = "/jaxcache"
# Imported once in the zygote, so that every student process starts with them loaded
# (when the grader knows no better: it preloads what the instructor's notebook imports).
PRELOAD = ("scipy", "scipy.signal", "matplotlib", "matplotlib.pyplot", "matplotlib.font_manager", "pydicom",
           "flax.linen", "optax")


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one student process (bytes and seconds)."""

    memory_bytes: int = 4 << 30  # RLIMIT_AS; `import jax` needs more than 1 GiB
    cpu_seconds: int = 300  # RLIMIT_CPU, a backstop behind the grader's wall clocks
    processes: int = 256  # RLIMIT_NPROC (threads count): stops fork bombs
    file_bytes: int = 64 << 20  # RLIMIT_FSIZE
    open_files: int = 256  # RLIMIT_NOFILE
    tmpfs_bytes: int = 64 << 20  # size of the fresh /tmp and HOME (strong mode)
    output_bytes: int = 64 << 10  # stdout+stderr kept from the student process

    def rlimits(self) -> dict[str, int]:
        return {"RLIMIT_AS": self.memory_bytes, "RLIMIT_CPU": self.cpu_seconds,
                "RLIMIT_NPROC": self.processes, "RLIMIT_FSIZE": self.file_bytes,
                "RLIMIT_NOFILE": self.open_files, "RLIMIT_CORE": 0}


class ChildTimeout(Exception):
    """The student process did not answer in time."""


def student_env() -> dict[str, str]:
    """The whole environment of a student process: nothing from the grader's."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": XLA_FLAGS, "PYTHONNOUSERSITE": "1", "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
            "HOME": STUDENT_HOME, "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}


# The sandbox gives every student process fresh, empty /tmp and /home. Host folders the
# grader needs that live below them (a checkout in /tmp, a venv in /home/...) are
# mounted under this prefix instead, and every path handed to the sandbox is mapped.
_SHADOWED = ("/tmp", "/home")
HOST_PREFIX = "/grader/host"


def inside(path: str | Path) -> str:
    """Where a host path appears inside the sandbox.

    >>> inside("/usr/lib/python3"), inside("/tmp/ci/.venv/lib")
    ('/usr/lib/python3', '/grader/host/tmp/ci/.venv/lib')
    """
    text = str(path)
    if any(text == top or text.startswith(top + "/") for top in _SHADOWED):
        return HOST_PREFIX + text
    return text


def _python_paths() -> list[Path]:
    """What the interpreter needs: its install, the virtual environment, the site dirs."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    exe = Path(sys.executable).resolve()
    paths.add(exe.parent.parent)
    return sorted(paths)


def _site_packages() -> list[str]:
    import site

    return [p for p in site.getsitepackages() if os.path.isdir(p)]


def _package_root(module_name: str) -> Path:
    """The folder holding the top-level package of ``module_name`` (e.g. the repo for medjax)."""
    import importlib.util

    spec = importlib.util.find_spec(module_name.split(".")[0])
    if spec is None or spec.origin is None:
        raise ImportError(f"cannot find module {module_name}")
    origin = Path(spec.origin).resolve()
    return origin.parent.parent if origin.name == "__init__.py" else origin.parent


def _parents(path: Path, made: set) -> list[str]:
    args = []
    for parent in reversed(path.parents):
        if str(parent) in ("/",) or str(parent) in made:
            continue
        made.add(str(parent))
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


def bwrap_command(python: str, mounts: list[tuple[Path, str]], writable: tuple[tuple[Path, str], ...] = ()) -> list[str]:
    """The bubblewrap command line: namespaces, read-only binds, tmpfs, kept capabilities."""
    cmd = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    for cap in ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE"):
        cmd += ["--cap-add", cap]  # used by the zygote only; every student process drops them all
    cmd += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            cmd += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            cmd += ["--ro-bind", str(host), f"/{name}"]
    made: set = {"/usr", "/tmp", "/home", "/proc", "/dev", "/grader"}
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/home",
            "--perms", "0755", "--dir", "/grader", "--perms", "0755", "--dir", "/etc"]
    for src, dest in mounts:
        if not str(dest).startswith(("/usr/",)):
            cmd += _parents(Path(dest), made)
        cmd += ["--ro-bind", str(src), str(dest)]
        made.add(str(dest))
    for src, dest in writable:  # the shared compilation cache: read-only again in every student process
        cmd += ["--bind", str(src), dest]
    return cmd + ["--chdir", "/tmp", inside(os.path.realpath(python)), "-I", "-S"]


@functools.lru_cache(maxsize=1)
def strong_mode_available() -> bool:
    """Whether bubblewrap can build the sandbox here (checked once per process)."""
    if os.environ.get("MEDJAX_SANDBOX", "").lower() == "weak" or shutil.which("bwrap") is None:
        return False
    mounts = [(p, str(p)) for p in _python_paths()]
    cmd = bwrap_command(sys.executable, mounts) + ["-c", "pass"]
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=60, env=student_env()).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def warn_weak_mode() -> None:
    """The loud warning printed once when the sandbox falls back to its weaker mode."""
    msg = ("medjax grade: WARNING: bubblewrap cannot create namespaces here; grading in the WEAKER "
           "sandbox mode (rlimits, clean environment, process tree only): student code can read "
           "files the grader's user can read and may use the network. See autograder/SECURITY.md.")
    print(msg, file=sys.stderr)


class _Drain(threading.Thread):
    """Read a pipe to EOF, keeping the first ``cap`` bytes."""

    def __init__(self, fd: int, cap: int):
        super().__init__(daemon=True)
        self.fd, self.cap, self.data, self.total = fd, cap, bytearray(), 0

    def run(self) -> None:
        try:
            while chunk := os.read(self.fd, 1 << 16):
                self.total += len(chunk)
                if len(self.data) < self.cap:
                    self.data += chunk[: self.cap - len(self.data)]
        except OSError:
            pass
        finally:
            os.close(self.fd)

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class Child:
    """One student process: send requests, receive answers with deadlines, kill its tree."""

    MAX_LINE = 64 << 20

    def __init__(self, zygote: "Zygote", ident: int, req_w: int, resp_r: int, out_r: int, cap: int):
        self.zygote, self.ident, self.req_w, self.resp_r = zygote, ident, req_w, resp_r
        self.output = _Drain(out_r, cap)
        self.output.start()
        self.buf = b""
        self.exit: dict | None = None
        self.closed = False
        self.broken = False

    def send(self, obj: dict) -> bool:
        """Write one request; False when the child is gone."""
        data = (json.dumps(obj) + "\n").encode()
        try:
            while data:
                ready = select.select([], [self.req_w], [], 30)[1]
                if not ready:
                    return False
                data = data[os.write(self.req_w, data[: 1 << 16]):]
        except (BrokenPipeError, OSError):
            return False
        return True

    def recv(self, timeout: float) -> dict | None:
        """The next answer, ``None`` at EOF (the child died); :class:`ChildTimeout` when late."""
        if self.broken:
            return None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.resp_r], [], [], left)[0]:
                raise ChildTimeout()
            chunk = os.read(self.resp_r, 1 << 20)
            if not chunk:
                return None
            self.buf += chunk
            if len(self.buf) > self.MAX_LINE:  # a protocol violation: treat the child as dead
                self.buf, self.broken = b"", True
                return None
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            msg = json.loads(line)
        except ValueError:
            return {"op": "garbage", "error": "unreadable answer"}
        if not isinstance(msg, dict):
            return {"op": "garbage", "error": "unreadable answer"}
        if msg.get("op") == "exit":
            self.exit = msg
        return msg

    def close(self) -> None:
        """Kill the child's whole process tree and release the pipes."""
        if self.closed:
            return
        self.closed = True
        self.zygote.kill(self.ident)
        for fd in (self.req_w, self.resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.output.join(timeout=5)


class Zygote:
    """The sandboxed parent of all student processes of one grader run."""

    def __init__(self, items_module: str, *, limits: SandboxLimits = SandboxLimits(),
                 strong: bool | None = None, jax_cache: Path | None = None, preload: tuple[str, ...] = PRELOAD):
        self.limits, self.preload = limits, tuple(preload)
        self.strong = strong_mode_available() if strong is None else strong
        self.jax_cache = jax_cache if self.strong else None  # read-only sharing needs mount namespaces
        self.lock = threading.Lock()
        self.count = 0
        self.uid_base = 200000 + (os.getpid() % 20000) * 1000
        self.weak_root = None if self.strong else Path(tempfile.mkdtemp(prefix="medjax-sandbox-"))
        self._start(items_module)

    def _mounts(self, items_module: str) -> tuple[list[tuple[Path, str]], list[str], str]:
        mounts = [(p, inside(p)) for p in _python_paths()]
        medjax_root = _package_root("medjax")
        mounts.append((medjax_root / "medjax", inside(medjax_root / "medjax")))
        sys_path = [p for p in sys.path[1:] if p and "site-packages" not in p and os.path.isdir(p)
                    and p.startswith(sys.base_prefix)] + _site_packages() + [str(medjax_root)]
        if self.strong:
            sys_path = [inside(p) for p in sys_path]
        mounts.append((CHILD_SCRIPT, "/grader/child.py"))
        module = items_module
        if not items_module.startswith("medjax."):
            import importlib.util

            spec = importlib.util.find_spec(items_module)
            if spec is None or spec.origin is None:
                raise ImportError(f"cannot find items module {items_module}")
            module = "grader_items_" + items_module.replace(".", "_")
            mounts.append((Path(spec.origin), f"/grader/extra/{module}.py"))
            sys_path.append("/grader/extra")
        return mounts, sys_path, module

    def _start(self, items_module: str) -> None:
        mounts, sys_path, module = self._mounts(items_module)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {"sys_path": sys_path, "items_module": module, "control_fd": theirs.fileno(),
                  "strong": self.strong, "env": student_env(), "limits": self.limits.rlimits(),
                  "tmpfs_bytes": self.limits.tmpfs_bytes, "home": STUDENT_HOME, "tmp": "/tmp",
                  "preload": list(self.preload), "jax_cache": JAX_CACHE if self.jax_cache else None}
        if self.strong:
            writable = ((self.jax_cache, JAX_CACHE),) if self.jax_cache else ()
            cmd = bwrap_command(sys.executable, mounts, writable) + ["/grader/child.py"]
        else:
            extra = self.weak_root / "extra"
            extra.mkdir()
            for src, dest in mounts:
                if dest.startswith("/grader/extra/"):
                    shutil.copy(src, extra / Path(dest).name)
            config["sys_path"] = [str(extra) if p == "/grader/extra" else p for p in sys_path]
            cmd = [sys.executable, "-I", "-S", str(CHILD_SCRIPT)]
        err_r, err_w = os.pipe()
        self.proc = subprocess.Popen(cmd + [json.dumps(config)], pass_fds=(theirs.fileno(),),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=err_w, env=student_env(),
                                     start_new_session=True, cwd=self.weak_root or "/")
        theirs.close()
        os.close(err_w)
        self.sock = ours
        self.stderr = _Drain(err_r, 16 << 10)
        self.stderr.start()
        self.sock.settimeout(120)
        try:
            ready = self.sock.recv(1 << 16)
        except OSError:
            ready = b""
        self.sock.settimeout(None)
        if b"zygote-ready" not in ready:
            self.close()
            raise RuntimeError(f"the sandbox did not start: {self.stderr.text()[-2000:]}")

    def spawn(self, *, writable_cache: bool = False) -> Child:
        """Fork a fresh student process (backend initialised, waiting for its submission).

        ``writable_cache`` only for the trusted warm-up run of the instructor's solution.
        """
        with self.lock:
            self.count += 1
            ident = self.count
            uid = self.uid_base + ident % 1000
            req_r, req_w = os.pipe()
            resp_r, resp_w = os.pipe()
            out_r, out_w = os.pipe()
            spec = {"op": "spawn", "id": ident, "uid": uid, "cache_writable": bool(writable_cache)}
            if not self.strong:
                home = self.weak_root / f"s{ident}"
                spec.update(home=str(home / "home"), tmp=str(home / "home"))
            try:
                socket.send_fds(self.sock, [json.dumps(spec).encode()], [req_r, resp_w, out_w])
            finally:
                for fd in (req_r, resp_w, out_w):
                    os.close(fd)
        return Child(self, ident, req_w, resp_r, out_r, self.limits.output_bytes)

    def kill(self, ident: int) -> None:
        """Kill one student process tree (its pid namespace in the strong mode)."""
        with self.lock:
            try:
                self.sock.send(json.dumps({"op": "kill", "id": ident}).encode())
            except OSError:
                pass
        if self.weak_root is not None:
            shutil.rmtree(self.weak_root / f"s{ident}", ignore_errors=True)

    def close(self) -> None:
        """Stop the zygote and everything below it (its whole process group and namespace)."""
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            warnings.warn("sandbox zygote did not exit", RuntimeWarning, stacklevel=2)
        if self.weak_root is not None:
            shutil.rmtree(self.weak_root, ignore_errors=True)

    def __enter__(self) -> "Zygote":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["Child", "ChildTimeout", "SandboxLimits", "Zygote", "strong_mode_available",
           "student_env", "warn_weak_mode"]

"""The sandbox itself: process isolation, limits, clean environment, tree kills; both modes.

Namespace-only properties (hidden filesystem, no network, own uid and pid
namespace) are skipped in the weaker mode, with the reason.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from autograder.sandbox import ChildTimeout, SandboxLimits, Zygote, inside, strong_mode_available, student_env

# The checkout as the sandbox sees it (mapped when it lies below /tmp or /home).
_REPO = str(Path(__file__).resolve().parents[1])
_REPO_INSIDE = inside(_REPO)
_VENV = Path(sys.prefix).resolve()
_VENV_LIB = inside(_VENV / "lib")
_VISIBLE = sorted({"medjax"} | ({_VENV.name} if str(_VENV.parent) == _REPO else set()))

MODES = [pytest.param(True, id="strong",
                      marks=pytest.mark.skipif(not strong_mode_available(), reason="bwrap cannot create namespaces here")),
         pytest.param(False, id="weak")]
ITEMS = "grader_fixtures.tiny_items"


@pytest.fixture(scope="module", params=MODES)
def zygote(request):
    z = Zygote(ITEMS, strong=request.param, limits=SandboxLimits(output_bytes=1000))
    yield z
    z.close()


def run(child, *cells: str, timeout: float = 30) -> list[dict]:
    """Send cells, collect the cell messages up to 'ready'."""
    assert child.send({"op": "run", "cells": [[i, s] for i, s in enumerate(cells)]})
    msgs = []
    while True:
        msg = child.recv(timeout)
        assert msg is not None, "child died"
        msgs.append(msg)
        if msg["op"] == "ready":
            return msgs


def value_of(child, expr: str):
    """Evaluate ``expr`` in the child through the out_size probe (its name is taken over)."""
    run(child, f"def out_size(*a, **k):\n    return {expr}\n")
    assert child.send({"op": "probe", "seq": 1, "grade_id": "test_out_size", "args": [], "kwargs": {}})
    msg = child.recv(30)
    assert msg["ok"], msg
    return msg["value"]


def test_cells_run_and_probes_answer(zygote):
    child = zygote.spawn()
    try:
        msgs = run(child, "x = 1", "def f(:", "raise ValueError('no')", "print('to stdout')")
        errors = {m["index"]: m["kind"] for m in msgs if m.get("status") == "error"}
        assert errors == {1: "SyntaxError", 2: "ValueError"}
        run(child, "import numpy as np\ndef double(x):\n    return 2 * np.asarray(x)\n")
        child.send({"op": "probe", "seq": 7, "grade_id": "test_double", "args": [[1, 2]], "kwargs": {}, "jaxpr": True})
        msg = child.recv(30)
        assert msg["seq"] == 7 and msg["ok"] and msg["value"]["shape"] == [2]
    finally:
        child.close()
    assert "to stdout" in child.output.text()


def test_environment_is_only_the_graders(zygote):
    child = zygote.spawn()
    try:
        keys = value_of(child, "sorted(__import__('os').environ)")
    finally:
        child.close()
    assert set(keys) == set(student_env()) | {"TMPDIR"}


def test_no_native_kernels_are_built_for_student_code(zygote):
    child = zygote.spawn()
    try:
        got = value_of(child, "[__import__('medjax.native').native.enabled(), "
                              "__import__('medjax.models._conv_pool').models._conv_pool.native_available()]")
    finally:
        child.close()
    assert got == [False, False]


def test_rlimits_are_applied(zygote):
    child = zygote.spawn()
    try:
        got = value_of(child, "[__import__('resource').getrlimit(getattr(__import__('resource'), n))[0] "
                              "for n in ('RLIMIT_AS', 'RLIMIT_NPROC', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE', 'RLIMIT_CORE')]")
    finally:
        child.close()
    lim = SandboxLimits()
    assert got == [lim.memory_bytes, lim.processes, lim.file_bytes, lim.open_files, 0]


def test_home_is_fresh_for_every_child(zygote):
    first = zygote.spawn()
    try:
        home = value_of(first, "[__import__('os').path.expanduser('~'), open(__import__('os').path.expanduser('~/mark'), 'w').write('x')]")[0]
    finally:
        first.close()
    second = zygote.spawn()
    try:
        assert value_of(second, "__import__('os').listdir(__import__('os').path.expanduser('~'))") == []
    finally:
        second.close()
    assert home


def test_output_is_capped_and_separate_from_answers(zygote):
    child = zygote.spawn()
    try:
        run(child, "for _ in range(2000):\n    print('{\"op\": \"ready\"}' * 10)")
        value = value_of(child, "41 + 1")
    finally:
        child.close()
    assert value == 42
    assert len(child.output.data) == 1000 and child.output.total > 100_000


def test_timeout_then_kill_stops_the_process_tree(zygote):
    child = zygote.spawn()
    run(child, "import os, time\nPIDS = []\nfor _ in range(3):\n    pid = os.fork()\n    if pid == 0:\n"
               "        time.sleep(120)\n        os._exit(0)\n    PIDS.append(pid)\n")
    assert child.send({"op": "run", "cells": [[9, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"]]})
    assert child.recv(10)["status"] == "start"
    with pytest.raises(ChildTimeout):
        child.recv(1.0)
    child.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _student_processes(zygote):
        time.sleep(0.2)
    assert not _student_processes(zygote)


def _student_processes(zygote) -> list[int]:
    """Host pids of live processes that belong to this zygote's students."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = open(f"/proc/{pid}/status").read()
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        uid = int(fields["Uid"].split()[0])
        if zygote.strong and zygote.uid_base <= uid < zygote.uid_base + 1000:
            pids.append(int(pid))
        elif not zygote.strong and b"child.py" in cmd and int(fields["PPid"]) != zygote.proc.pid and \
                int(pid) != zygote.proc.pid and _is_below(int(pid), zygote.proc.pid):
            pids.append(int(pid))
    return pids


def _is_below(pid: int, ancestor: int) -> bool:
    for _ in range(10):
        try:
            ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return False
        if ppid == ancestor:
            return True
        if ppid <= 1:
            return False
        pid = ppid
    return False


@pytest.mark.parametrize("expr, expected", [
    ("__import__('os').getuid() != 0", True),
    (f"sorted(__import__('os').listdir({_REPO_INSIDE!r}))", _VISIBLE),
    (f"__import__('os').path.exists({_REPO_INSIDE + '/autograder'!r}) or "
     f"__import__('os').path.exists({_REPO_INSIDE + '/solutions'!r}) or __import__('os').path.exists({_REPO!r} + '/solutions')",
     False),
    ("len([p for p in __import__('os').listdir('/proc') if p.isdigit()]) <= 3", True),
    ("sorted(__import__('socket').if_nameindex())", [[1, "lo"]]),
])
def test_strong_mode_isolation(zygote, expr, expected):
    if not zygote.strong:
        pytest.skip("weaker sandbox mode: no namespaces")
    child = zygote.spawn()
    try:
        assert value_of(child, expr) == expected
    finally:
        child.close()


def test_strong_mode_filesystem_is_read_only(zygote):
    if not zygote.strong:
        pytest.skip("weaker sandbox mode: the host filesystem is writable by the grader's user")
    child = zygote.spawn()
    try:
        probe = ("[__import__('os').access(p, __import__('os').W_OK) for p in "
                 f"({_REPO_INSIDE + '/medjax'!r}, {_VENV_LIB!r}, '/usr/lib', '/tmp', __import__('os').path.expanduser('~'))]")
        assert value_of(child, probe) == [False, False, False, True, True]
    finally:
        child.close()

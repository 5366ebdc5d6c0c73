"""Hostile submissions, all graded in ONE grader run together with an honest bystander.

Each case is a small notebook built here; the run is shared (module fixture), and
each test asserts the hostile submission's exact score (0 for what it tried to
forge, exactly the honest part otherwise), the reason in its status, that nothing
hidden reached any output file, and (once, for all) that the bystander got its
normal score. The tiny assignment lives in ``tests/grader_fixtures``.
"""
from __future__ import annotations

import csv
import fcntl
import json
import os
import time
from pathlib import Path

import pytest

from autograder.grade import Limits, StudentResult, load_suite
from autograder.pool import grade_all
from autograder.sandbox import inside, strong_mode_available
from autograder.submissions import Submission
from grader_fixtures.notebooks import CORRECT, nb_bytes, notebook

_REPO = str(Path(__file__).resolve().parents[1])
# What a student must never see, on the host path and where the sandbox would map it.
_SECRET_PATHS = [root + rel for root in (_REPO, inside(_REPO)) for rel in
                 ('/autograder/hidden', '/solutions', '/tests', '/tests/grader_fixtures/tiny_hidden.py', '/.git')]

STRONG = strong_mode_available()
needs_namespaces = pytest.mark.skipif(not STRONG, reason="weaker sandbox mode: no namespaces, the host is visible")
FULL, MAX = 6.0, 6.0
HIDDEN_MARKS = ("4242.1", "8484.2", "987653", "493826", "SECRET")

DOUBLE = "import jax.numpy as jnp\ndef double(x):\n    return 2 * jnp.asarray(x, dtype=jnp.float32)\n"
SIZE = "def out_size(n, f, stride=1):\n    return (n - f) // stride + 1\n"
CORR = CORRECT.split("def out_size")[0]  # imports, double and corr2d
WRONG = ("import numpy as np\ndef double(x):\n    return np.zeros(np.shape(x))\n"
         "def corr2d(image, kernel):\n    return np.zeros((1, 1))\n"
         "def out_size(n, f, stride=1):\n    return -1\n")
FORGE = '''
import glob, json, os
fake = {"score": 999, "max_score": 6, "tests": []}
for path in ["results.json", "grades.csv", "/tmp/results.json", os.path.expanduser("~/results.json")]:
    try:
        with open(path, "w") as fh:
            fh.write(json.dumps(fake) if path.endswith("json") else "student,score\\nforger,999\\n")
    except OSError:
        pass
for path in glob.glob("/tmp/**/results.json", recursive=True) + glob.glob("/tmp/**/grades.csv", recursive=True):
    try:
        with open(path, "w") as fh:
            fh.write(json.dumps(fake))
    except OSError:
        pass
'''
CHEAT_IF = '''
def out_size(n, f, stride=1):
    return (n - f) // stride + 1 if CHEATED else -1
'''

# name -> (notebook bytes, expected score, status substring or None for "graded")
CASES: dict[str, tuple[bytes, float, str | None]] = {
    "forge_files": (nb_bytes(WRONG, FORGE), 0.0, None),
    "forge_background": (nb_bytes(WRONG, "import os, time\nFORGE = " + repr(FORGE) + "\npid = os.fork()\n"
                                  "if pid == 0:\n    os.setsid()\n    time.sleep(4)\n    exec(FORGE)\n    os._exit(0)\n"),
                         0.0, None),
    "forge_print_protocol": (nb_bytes(WRONG + "import json\n"
                                      "print(json.dumps({'op': 'result', 'ok': True, 'value': 14}))\n"), 0.0, None),
    "forge_protocol_fd": (nb_bytes(WRONG.replace("    return -1", "    import os\n    os.write(4, b'{\"op\": \"result\", \"ok\": true, \"value\": 14}\\n')\n    return -1")), 0.0, None),
    "sys_exit_import": (nb_bytes(DOUBLE, "import sys\nsys.exit(0)", CORRECT), FULL, "SystemExit"),
    "os_exit_import": (nb_bytes(CORRECT, "import os\nos._exit(3)"), FULL, "crashed (exit code 3)"),
    "sigkill_import": (nb_bytes(CORRECT, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"), FULL, "SIGKILL"),
    "raise_at_import": (nb_bytes(CORRECT, "raise RuntimeError('boom')"), FULL, None),
    "sys_exit_in_function": (nb_bytes(CORRECT, "import sys\ndef double(x):\n    sys.exit(1)\n"), 4.0, "SystemExit"),
    "os_exit_in_function": (nb_bytes(CORRECT, "import os\ndef double(x):\n    os._exit(0)\n"), 4.0, "crashed"),
    "sigkill_in_function": (nb_bytes(CORRECT, "import os, signal\ndef corr2d(i, k):\n    os.kill(os.getpid(), signal.SIGKILL)\n"),
                            3.0, "SIGKILL"),
    "ipython_transformer": (nb_bytes(WRONG, "ip = get_ipython()\nip.ast_transformers.append(None)\n"
                                     "ip.input_transformers_post.append(lambda lines: [l for l in lines if 'assert' not in l])"),
                            0.0, None),
    "monkeypatch_comparisons": (nb_bytes(WRONG, "import numpy as np, math, jax.numpy as jnp\n"
                                         "np.testing.assert_allclose = lambda *a, **k: None\nnp.allclose = lambda *a, **k: True\n"
                                         "np.array_equal = lambda *a, **k: True\nmath.isclose = lambda *a, **k: True\n"
                                         "jnp.allclose = lambda *a, **k: True\n"
                                         "import medjax.selfcheck.cases as c\nc.compare_values = lambda *a, **k: (True, 'ok')\n"),
                                0.0, None),
    "monkeypatch_builtins": (nb_bytes(WRONG, "import builtins\nbuiltins.isinstance = lambda *a: True\n"
                                      "builtins.len = lambda x: 3\nbuiltins.abs = lambda x: 0\n"), 0.0, "crashed"),
    "lying_eq_object": (nb_bytes(WRONG, "import numpy as np\nclass Liar:\n    def __eq__(self, o): return True\n"
                                 "    def __array__(self, dtype=None, copy=None): return np.zeros(3)\n"
                                 "    def __float__(self): return 14.0\n"
                                 "def double(x): return Liar()\ndef out_size(n, f, stride=1): return Liar()\n"), 0.0, None),
    "array_subclass": (nb_bytes(WRONG, "import numpy as np\nclass Liar(np.ndarray):\n    def __eq__(self, o): return np.ones_like(self, bool)\n"
                                "def double(x): return np.zeros(np.shape(x)).view(Liar)\n"
                                "class I(int):\n    def __eq__(self, o): return True\n"
                                "def out_size(n, f, stride=1): return I(0)\n"), 0.0, None),
    "broadcast_scalar": (nb_bytes(WRONG, "import numpy as np\ndef double(x): return np.float32(2.0)\n"
                                  "def corr2d(i, k): return np.float32(0.0)\n"
                                  "def out_size(n, f, stride=1): return np.array([(n - f) // stride + 1])\n"), 0.0, None),
    "nan_outputs": (nb_bytes(WRONG, "import numpy as np\ndef double(x): return np.full(np.shape(x), np.nan)\n"
                             "def corr2d(i, k): return np.full((3, 4), np.nan)\ndef out_size(n, f, stride=1): return float('nan')\n"),
                    0.0, None),
    "read_hidden_files": (nb_bytes(DOUBLE, "import glob, os\nCHEATED = False\n"
                                   f"for p in {_SECRET_PATHS!r}:\n"
                                   "    CHEATED = CHEATED or os.path.exists(p)\n"
                                   "CHEATED = CHEATED or bool(glob.glob('/tmp/**/grades.csv', recursive=True))\n" + CHEAT_IF),
                          2.0, None),
    "read_environment": (nb_bytes(DOUBLE, "import os\nCHEATED = any(k.startswith(('PYTEST', 'MEDJAX', 'CI', 'USER')) for k in os.environ)\n"
                                  "for p in ['/proc/%d/environ' % os.getppid(), '/proc/1/environ', '/proc/1/mem']:\n"
                                  "    try:\n        CHEATED = CHEATED or b'PYTEST' in open(p, 'rb').read(1 << 20)\n"
                                  "    except OSError:\n        pass\n" + CHEAT_IF), 2.0, None),
    "edit_metadata": (json.dumps({**notebook(DOUBLE), "metadata": {"nbgrader": {"points": 100}, "medjax": {"max_score": 100}},
                                  "cells": [{**c, "metadata": {"nbgrader": {**c["metadata"]["nbgrader"], "points": 1000,
                                                                            "grade_id": "test_out_size"}}}
                                            for c in notebook(DOUBLE)["cells"]]}).encode(), 2.0, None),
    "deleted_and_duplicated_cells": (json.dumps({**notebook(CORRECT, test_cells=False),
                                                 "cells": notebook(CORRECT, test_cells=False)["cells"] * 3}).encode(),
                                     FULL, None),
    "malformed_notebook": (b'{"cells": {"not": "a list"}, "nbformat": 4}', 0.0, "unreadable notebook"),
    "not_utf8": (b"\xff\xfe\x00\x00garbage\x80\x81", 0.0, "unreadable notebook"),
    "huge_notebook": (nb_bytes("BLOB = '" + "x" * (50 << 20) + "'\n" + CORRECT), 0.0, "unreadable notebook"),
    "infinite_loop_import": (nb_bytes(CORRECT, "while True:\n    pass"), FULL, "timeout in cell"),
    "infinite_loop_sigint_ignored": (nb_bytes(CORRECT, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                              "def double(x):\n    while True:\n        pass\n"), 4.0, "timeout in double"),
    "input_call": (nb_bytes("name = input('your name: ')", CORRECT), FULL, None),
    "memory_bomb_list": (nb_bytes(CORRECT, "x = [0] * (10 ** 10)"), FULL, "out of memory"),
    "memory_bomb_jax": (nb_bytes(CORRECT, "import jax.numpy as jnp\ndef double(x):\n    return jnp.zeros((10 ** 6, 10 ** 6))\n"),
                        4.0, "out of memory"),
    "fork_bomb": (nb_bytes(CORRECT, "import os, time\nfor _ in range(100000):\n    try:\n        os.fork()\n"
                                    "    except OSError:\n        time.sleep(0.5)\n"), FULL, "timeout in cell"),
    "disk_flood": (nb_bytes(CORRECT, "import os\nfor d in ['/tmp', os.path.expanduser('~')]:\n"
                                     "    for i in range(1000):\n        try:\n"
                                     "            with open(os.path.join(d, f'f{i}'), 'wb') as fh:\n"
                                     "                fh.write(b'0' * (32 << 20))\n"
                                     "        except OSError:\n            break\n"), FULL, None),
    "stdout_flood": (nb_bytes(CORRECT, "import sys\nfor _ in range(3000):\n    print('x' * 10000)\n"
                                       "    sys.stderr.write('y' * 10000)\n"), FULL, None),
    "network": (nb_bytes(DOUBLE, "import socket\nCHEATED = False\n"
                                 "for target in [('8.8.8.8', 53), ('1.1.1.1', 443), ('pypi.org', 443)]:\n"
                                 "    try:\n        socket.create_connection(target, timeout=1).close()\n        CHEATED = True\n"
                                 "    except OSError:\n        pass\n"
                                 "try:\n    socket.getaddrinfo('example.com', 80)\n    CHEATED = True\nexcept OSError:\n    pass\n"
                                 + CHEAT_IF), 2.0, None),
    "persistence": (nb_bytes(WRONG, "import os, site, numpy\nhome = os.path.expanduser('~')\n"
                                    "targets = [os.path.join(home, '.ipython/profile_default/startup/00-evil.py'),\n"
                                    "           os.path.join(site.getusersitepackages(), 'evil.pth'),\n"
                                    "           os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), 'evil.pth'),\n"
                                    "           os.path.join(os.path.dirname(numpy.__file__), 'sitecustomize.py'),\n"
                                    "           '/tmp/sitecustomize.py', os.path.join(home, '.pythonrc')]\n"
                                    "for t in targets:\n    try:\n        os.makedirs(os.path.dirname(t), exist_ok=True)\n"
                                    "        open(t, 'w').write('import builtins; builtins.EVIL = 1\\n')\n"
                                    "    except OSError:\n        pass\n"), 0.0, None),
    "persistence_victim": (nb_bytes(CORR, "import builtins, glob, os, site\n"
                                          "home = os.path.expanduser('~')\n"
                                          "FOUND = hasattr(builtins, 'EVIL') or bool(glob.glob(home + '/.ipython/**/*.py', recursive=True)\n"
                                          "    + glob.glob('/tmp/*.py') + glob.glob(site.getusersitepackages() + '/*.pth'))\n"
                                          "def out_size(n, f, stride=1):\n    return -1 if FOUND else (n - f) // stride + 1\n"),
                           FULL, None),
    "jax_config": (nb_bytes(CORR, "import jax\njax.config.update('jax_enable_x64', True)\njax.config.update('jax_disable_jit', True)\n"
                                  "try:\n    jax.config.update('jax_platforms', 'gpu')\nexcept Exception:\n    pass\n"
                                  "def out_size(n, f, stride=1):\n    ok = not jax.config.jax_enable_x64 and not jax.config.jax_disable_jit\n"
                                  "    return (n - f) // stride + 1 if ok else -1\n"), FULL, None),
    "xla_flags": (nb_bytes("import os\nos.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=8'\n"
                           "os.environ['JAX_PLATFORMS'] = 'cuda'\nimport jax\n" + CORR +
                           "def out_size(n, f, stride=1):\n    return (n - f) // stride + 1 if len(jax.devices()) == 1 else -1\n"),
                  FULL, None),
    "tracer_errors": (nb_bytes(SIZE, "import jax, jax.numpy as jnp\n@jax.jit\ndef double(x):\n"
                                     "    if x.sum() > 0:\n        return 2 * x\n    return x\n"
                                     "LEAK = []\n@jax.jit\ndef _keep(x):\n    LEAK.append(x)\n    return x\n"
                                     "def corr2d(image, kernel):\n    _keep(jnp.ones(3))\n    return LEAK[0] + 1\n"), 1.0, None),
    "banned_direct": (nb_bytes(DOUBLE + SIZE, "from jax.lax import conv_general_dilated as cgd\nimport jax.numpy as jnp\n"
                                              "def corr2d(image, kernel):\n"
                                              "    x = jnp.asarray(image, jnp.float32)[None, None]\n"
                                              "    k = jnp.asarray(kernel, jnp.float32)[None, None]\n"
                                              "    return cgd(x, k, (1, 1), 'VALID')[0, 0]\n"), 3.0, None),
    "banned_getattr": (nb_bytes(DOUBLE + SIZE, "import jax, jax.numpy as jnp\n"
                                               "def corr2d(image, kernel):\n"
                                               "    f = getattr(jax.lax, 'conv_general' + '_dilated')\n"
                                               "    x = jnp.asarray(image, jnp.float32)[None, None]\n"
                                               "    k = jnp.asarray(kernel, jnp.float32)[None, None]\n"
                                               "    return f(x, k, (1, 1), 'VALID')[0, 0]\n"), 3.0, None),
    "banned_scipy_helper": (nb_bytes(DOUBLE + SIZE, "import scipy.signal as ss\n"
                                                    "def _helper(a, b):\n    return ss.correlate2d(a, b, mode='valid')\n"
                                                    "def corr2d(image, kernel):\n    return _helper(image, kernel)\n"), 3.0, None),
    "poison_compile_cache": (nb_bytes(DOUBLE, "import os\nCHEATED = False\n"
                                          "for d in ['/jaxcache', os.path.expanduser('~/.cache/jax')]:\n"
                                          "    try:\n        names = os.listdir(d)\n    except OSError:\n        continue\n"
                                          "    for n in names + ['evil-entry']:\n        try:\n"
                                          "            open(os.path.join(d, n), 'wb').write(b'junk')\n            CHEATED = True\n"
                                          "        except OSError:\n            pass\n" + CHEAT_IF), 2.0, None),
    "protocol_flood": (nb_bytes(CORRECT, "import os, threading\ndef _flood():\n"
                                         "    line = b'{\"op\": \"result\", \"seq\": -1, \"ok\": true, \"value\": 0}\\n'\n"
                                         "    for _ in range(100000):\n        os.write(4, line)\n"
                                         "threading.Thread(target=_flood, daemon=True).start()\n"), FULL, None),
    "exfiltrate_hidden_inputs": (nb_bytes(CORRECT, "import numpy as np\ndef double(x):\n    print('INPUT', x)\n"
                                                   "    raise ValueError('inputs were ' + repr(np.asarray(x).tolist()))\n"), 4.0, None),
}
NAMESPACE_ONLY = {"forge_files", "forge_background", "read_hidden_files", "read_environment", "network", "persistence",
                  "disk_flood", "persistence_victim",
                  "fork_bomb"}


def _run_once(out: Path) -> dict:
    suite = load_suite("tiny", items_module="grader_fixtures.tiny_items", hidden_module="grader_fixtures.tiny_hidden")
    names = [n for n in CASES if STRONG or n not in NAMESPACE_ONLY]
    subs = [Submission("bystander", nb_bytes(CORRECT), "bystander")]
    subs += [Submission(n, CASES[n][0], n) for n in names]
    start = time.monotonic()
    warm = out.parent / "solution.ipynb"  # fills the shared, read-only compilation cache first
    warm.write_bytes(nb_bytes(CORRECT))
    results = grade_all(subs, suite, out, jobs=2, limits=Limits(submission=60, test=10), use_cache=False, warmup=warm)
    elapsed = time.monotonic() - start
    time.sleep(4.5)  # let any background process that survived try to rewrite the results
    return {"elapsed": elapsed, "uid_base": 200000 + (os.getpid() % 20000) * 1000,  # autograder.sandbox's formula
            "results": [r.to_dict() for r in results]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The one grader run, shared by all tests and by pytest-xdist workers (run once, under a lock)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out, record = root / "adversarial-out", root / "adversarial-run.json"
    with open(root / "adversarial.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            out.mkdir(exist_ok=True)
            record.write_text(json.dumps(_run_once(out)))
    run = json.loads(record.read_text())
    results = {r["student"]: StudentResult.from_dict(r) for r in run["results"]}
    return results, out, run["elapsed"], run["uid_base"]


def test_bystander_and_run_bounds(graded):
    results, out, elapsed, _ = graded
    assert results["bystander"].score == FULL and results["bystander"].status == "graded"
    assert elapsed < 180
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert len(rows) == len(results)
    assert float(rows["bystander"]["score"]) == FULL
    bystander = json.loads((out / "bystander" / "results.json").read_text())
    assert bystander["score"] == FULL and bystander["max_score"] == MAX


def test_nothing_hidden_in_any_output_file(graded):
    _, out, _, _ = graded
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files
    for p in files:
        text = p.read_text(errors="replace")
        for mark in HIDDEN_MARKS:
            assert mark not in text, f"{mark} found in {p}"
        assert "INPUT" not in text  # the student's stdout never reaches an output file


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_submission(graded, name):
    if not STRONG and name in NAMESPACE_ONLY:
        pytest.skip("weaker sandbox mode: this attack needs namespaces to be stopped")
    results, out, _, _ = graded
    _, expected_score, status = CASES[name]
    r = results[name]
    assert r.score == pytest.approx(expected_score), (r.status, r.notes, [(i.name, i.score, i.banned) for i in r.items])
    assert r.max_score == MAX
    if status is None:
        assert r.status == "graded", r.status
    else:
        assert status in r.status, r.status
    data = json.loads((out / name / "results.json").read_text())  # what the student sees, intact
    assert data["score"] == pytest.approx(expected_score) and data["max_score"] == MAX
    row = next(x for x in csv.DictReader((out / "grades.csv").open()) if x["student"] == name)
    assert float(row["score"]) == pytest.approx(expected_score)


def test_banned_feedback_names_the_call(graded):
    results, out, _, _ = graded
    html = (out / "banned_direct" / "feedback.html").read_text()
    assert "corr2d calls jax.lax.conv_general_dilated, which this exercise asks you to implement yourself: 0 of 3 points" in html
    traced = next(i for i in results["banned_getattr"].items if i.name == "corr2d")
    assert "conv_general_dilated" in traced.banned and any("getattr" in n for n in traced.notes)
    helper = next(i for i in results["banned_scipy_helper"].items if i.name == "corr2d")
    assert "scipy.signal.correlate2d" in helper.banned


@needs_namespaces
def test_no_student_process_survives(graded):
    results, _, _, base = graded
    uids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
            if base <= uid < base + 1000:
                uids.append((pid, uid))
    assert not uids

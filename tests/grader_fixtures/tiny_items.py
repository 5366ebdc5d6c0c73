"""Items of the grader's test assignment ``tiny``: three small functions with known mistakes."""
import numpy as np

from medjax.selfcheck.cases import Case, Item, Mistake

IMAGE = np.arange(20, dtype=np.float32).reshape(4, 5) % 7
KERNEL = np.array([[1.0, 2.0], [0.0, -1.0]], dtype=np.float32)


def double(x):
    return 2 * np.asarray(x, dtype=np.float64)


def corr2d(image, kernel):
    x, k = np.asarray(image, np.float64), np.asarray(kernel, np.float64)
    oh, ow = x.shape[0] - k.shape[0] + 1, x.shape[1] - k.shape[1] + 1
    return np.array([[np.sum(x[i:i + k.shape[0], j:j + k.shape[1]] * k) for j in range(ow)] for i in range(oh)])


def out_size(n, f, stride=1):
    return (int(n) - int(f)) // int(stride) + 1


ITEMS = [
    Item(grade_id="test_double", name="double", points=2, what="double(x) = 2 x", reference=double,
         cases=(Case(args=([1.0, 2.0, 3.0],), what="a list of three numbers"),
                Case(args=(np.ones((2, 2), np.float32),), what="a 2x2 array"))),
    Item(grade_id="test_corr2d", name="corr2d", points=3, what="corr2d(image, kernel): valid cross-correlation",
         reference=corr2d,
         cases=(Case(args=(IMAGE, KERNEL), what="4x5 image, asymmetric 2x2 kernel"),),
         mistakes=(Mistake("flipped kernel", "do not flip the kernel.", lambda x, k: corr2d(x, np.asarray(k)[::-1, ::-1])),),
         banned=("jax.lax.conv", "jax.lax.conv_general_dilated", "scipy")),
    Item(grade_id="test_out_size", name="out_size", points=1, what="out_size(n, f, stride=1) = (n - f) // s + 1",
         reference=out_size,
         cases=(Case(args=(16, 3), what="16, f=3 -> 14"), Case(args=(7, 3), kwargs={"stride": 2}, what="7, f=3, s=2 -> 3"))),
]

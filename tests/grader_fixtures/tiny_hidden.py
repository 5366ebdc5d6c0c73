"""Hidden cases of ``tiny``: the values in here must never appear in any grader output."""
import numpy as np

from medjax.selfcheck.cases import Case

SECRET = 4242.125  # a distinctive number: tests grep every output file for it

HIDDEN = {
    "test_double": (Case(args=(np.array([SECRET, -1.5]),), what="SECRET-CASE a hidden vector"),
                    Case(args=(np.float32(SECRET / 2),), what="SECRET-CASE a hidden scalar")),
    "test_corr2d": (Case(args=(np.full((3, 4), SECRET), np.eye(2)), what="SECRET-CASE hidden image"),),
    "test_out_size": (Case(args=(987653, 3), kwargs={"stride": 2}, what="SECRET-CASE big size"),),
}

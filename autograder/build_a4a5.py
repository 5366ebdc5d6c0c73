"""Write the solution notebooks of assignments a4 and a5 from this source.

    python -m autograder.build_a4a5            # writes solutions/a4_cnn_pneumonia/*.ipynb, solutions/a5_resnet_unet/*.ipynb
    python -m autograder.release --write a4_cnn_pneumonia a5_resnet_unet   # then exercises/
    python -m autograder.visible --write a4_cnn_pneumonia a5_resnet_unet   # after editing items or references

The notebooks are the source of truth for the release pipeline; this module only
keeps their cells and nbgrader metadata reviewable as Python. Every graded name,
argument order and default matches ``medjax/selfcheck/a4_cnn_pneumonia.py`` and
``medjax/selfcheck/a5_resnet_unet.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

from autograder.authoring import code, graded_tests, md, notebook, solution, write

ROOT = Path(__file__).resolve().parents[1]
A4, A5 = "a4_cnn_pneumonia", "a5_resnet_unet"

def _join(*parts: str) -> str:
    """Markdown from parts that are indented differently (each is dedented on its own)."""
    return "\n\n".join(dedent(p).strip("\n") for p in parts)


HOW_TO_WORK = """
**How to work.** Fill in every cell that says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`),
then run the test cell below it. Each test cell prints a scorecard and, when something is wrong, a hint
naming the likely mistake. The visible checks are a subset of the grading tests: hidden tests also try
{hidden}. Keep the function names, argument orders and defaults exactly as given.
"""

DATA_CELL = '''
import os

from medjax.synthetic import synthetic_xray

DATA_DIR = os.environ.get("MEDJAX_DATA_DIR", "")
NPZ = os.path.join(DATA_DIR, "pneumoniamnist.npz") if DATA_DIR else ""


def balanced_subset(images, labels, per_class, seed=0):
    """``per_class`` random images of each class, shuffled (a small, balanced training set)."""
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in (0, 1)])
    idx = rng.permutation(idx)
    return images[idx], labels[idx]


if NPZ and os.path.exists(NPZ):
    SOURCE = "PneumoniaMNIST (real paediatric chest X-rays, CC BY 4.0)"
    with np.load(NPZ) as f:
        raw = {k: f[k] for k in f.files}

    def part(split):
        return raw[f"{split}_images"].astype(np.float32)[..., None] / 255.0, raw[f"{split}_labels"][:, 0].astype(np.int32)

    train_x, train_y = balanced_subset(*part("train"), per_class=300)
    val_x, val_y = part("val")
    test_x, test_y = part("test")
else:
    SOURCE = "synthetic_xray (set MEDJAX_DATA_DIR to use real PneumoniaMNIST)"
    sets = [synthetic_xray(n, seed=s, prevalence=p) for n, s, p in ((600, 1, 0.5), (500, 2, 0.7), (600, 3, 0.6))]
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = [(d["images"], d["labels"]) for d in sets]

print(SOURCE)
for name, y in (("train", train_y), ("val", val_y), ("test", test_y)):
    print(f"{name:5s}: {y.size:4d} images, {int(y.sum()):4d} pneumonia ({y.mean():.0%})")
'''

# =========================================================================== a4


def a4_cells() -> list:
    g = lambda grade_id, name, points, extra="": graded_tests(A4, grade_id, name, points=points,  # noqa: E731
                                                              extra_visible=extra)
    return [
        md(_join("""
        In this assignment you build, train and *evaluate honestly* a small convolutional network that
        detects pneumonia on chest X-rays (PneumoniaMNIST: 28x28 grey images, label 1 = pneumonia).
        You write the clinical metrics, a leak-free data split, the model, a jitted training step and a data
        augmentation, run overfitting and regularisation experiments, and choose a decision threshold
        the right way: on the validation split, never on the test split.
        """, HOW_TO_WORK.format(hidden="class imbalance, all-positive and all-negative predictions, missing "
                                "classes, other split fractions, 64x64 inputs and ties between thresholds"), """
        **Conventions.** Images are **NHWC** `(N, H, W, 1)` floats in [0, 1] (JAX and Flax put the channels
        last; PyTorch's NCHW would make Flax treat the 28 rows as channels). Labels and predictions are
        integer vectors of shape `(N,)` with 0 = normal and 1 = pneumonia. A ratio whose denominator is 0
        (for example precision when nothing is predicted positive) is **0.0**, never NaN.
        """)),
        code("""
        import functools
        import time

        import numpy as np
        import jax
        import jax.numpy as jnp
        import flax.linen as nn
        import optax
        from flax.training.train_state import TrainState
        import matplotlib.pyplot as plt

        # The classic (non-partitionable) threefry PRNG compiles Flax's random initialisers about 5x
        # faster on CPU; it changes which random numbers a key gives, not their distribution.
        jax.config.update("jax_threefry_partitionable", False)

        T0 = time.perf_counter()
        """, locked=True, grade_id="setup"),
        md(r"""
        ## 1. The confusion matrix

        A binary classifier makes two kinds of errors. With the classes in the order [0, 1], the
        confusion matrix has the **actual** class in the rows and the **predicted** class in the columns:

        | | predicted 0 | predicted 1 |
        |---|---|---|
        | **actual 0** (normal) | TN | FP |
        | **actual 1** (pneumonia) | FN | TP |

        so `cm[i, j]` counts the patients of class `i` that the model called `j`. Swapping rows and columns
        (a *transposed* matrix) exchanges FP and FN, which matter very differently in a clinic: a false
        negative is a sick child sent home.
        """),
        solution('''
        def confusion_matrix(y_true, y_pred):
            """2x2 counts [[TN, FP], [FN, TP]]: rows = actual class, columns = predicted class (order [0, 1])."""
            ### BEGIN SOLUTION
            t = np.asarray(y_true).astype(int).ravel()
            p = np.asarray(y_pred).astype(int).ravel()
            return np.array([[np.sum((t == 0) & (p == 0)), np.sum((t == 0) & (p == 1))],
                             [np.sum((t == 1) & (p == 0)), np.sum((t == 1) & (p == 1))]])
            ### END SOLUTION
        ''', grade_id="confusion_matrix_solution"),
        g("test_confusion_matrix", "confusion_matrix", 2),
        md(r"""
        ## 2. Metrics from the confusion matrix

        $$\text{accuracy} = \frac{TP + TN}{N}, \qquad
          \text{precision} = \frac{TP}{TP + FP}, \qquad
          \text{recall} = \text{sensitivity} = \frac{TP}{TP + FN},$$
        $$\text{specificity} = \frac{TN}{TN + FP}, \qquad
          F_1 = \frac{2\,\text{precision}\cdot\text{recall}}{\text{precision} + \text{recall}} .$$

        Sensitivity is the fraction of sick patients that are found; specificity the fraction of healthy
        patients that are left alone; precision the fraction of alarms that are real. **Zero-division
        convention:** every ratio with a zero denominator is `0.0` (precision without any positive
        prediction, recall without any positive label, specificity without any negative label, F1 when
        precision + recall = 0). Return Python floats (or scalar arrays).
        """),
        solution('''
        def accuracy(y_true, y_pred):
            """(TP + TN) / N."""
            ### BEGIN SOLUTION
            (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
            return float((tp + tn) / (tn + fp + fn + tp))
            ### END SOLUTION


        def precision(y_true, y_pred):
            """TP / (TP + FP); 0.0 when nothing is predicted positive."""
            ### BEGIN SOLUTION
            (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
            return float(tp / (tp + fp)) if tp + fp > 0 else 0.0
            ### END SOLUTION


        def recall(y_true, y_pred):
            """Sensitivity TP / (TP + FN); 0.0 when there is no positive label."""
            ### BEGIN SOLUTION
            (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
            return float(tp / (tp + fn)) if tp + fn > 0 else 0.0
            ### END SOLUTION


        def specificity(y_true, y_pred):
            """TN / (TN + FP); 0.0 when there is no negative label."""
            ### BEGIN SOLUTION
            (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
            return float(tn / (tn + fp)) if tn + fp > 0 else 0.0
            ### END SOLUTION


        def f1(y_true, y_pred):
            """2 P R / (P + R); 0.0 when P + R = 0."""
            ### BEGIN SOLUTION
            p, r = precision(y_true, y_pred), recall(y_true, y_pred)
            return 2 * p * r / (p + r) if p + r > 0 else 0.0
            ### END SOLUTION
        ''', grade_id="metrics_solution"),
        g("test_accuracy", "accuracy", 1),
        g("test_precision", "precision", 1),
        g("test_recall", "recall", 1),
        g("test_specificity", "specificity", 1),
        g("test_f1", "f1", 1),
        md(r"""
        ## 3. The rare-disease paradox

        A screening test for a disease with prevalence $\pi$ (the fraction of sick patients) that simply
        answers "healthy" for everyone is right for every healthy patient, so its accuracy is $1 - \pi$:
        99 % for a disease that affects 1 % of patients, with a sensitivity of **0**. Accuracy alone says
        nothing on imbalanced data: always report sensitivity and specificity (or a ROC curve) with it.
        """),
        solution('''
        def always_negative_accuracy(prevalence):
            """Accuracy of the classifier that always predicts 0 (healthy) when a fraction `prevalence` is sick."""
            ### BEGIN SOLUTION
            return 1.0 - prevalence
            ### END SOLUTION
        ''', grade_id="always_negative_accuracy_solution"),
        g("test_always_negative_accuracy", "always_negative_accuracy", 1, """
        y_rare = np.array([0] * 99 + [1])
        always_0 = np.zeros(100, dtype=int)
        print(f"always 'healthy' at 1 % prevalence: accuracy {accuracy(y_rare, always_0):.2f}, "
              f"sensitivity {recall(y_rare, always_0):.2f}")
        """),
        md(r"""
        ## 4. Data, and a leak-free split

        The next cell loads PneumoniaMNIST when the environment variable `MEDJAX_DATA_DIR` points at a folder
        with `pneumoniamnist.npz` (the course's data folder), and otherwise draws synthetic chest X-rays with
        pneumonia-like opacities (`medjax.synthetic.synthetic_xray`), so the notebook runs anywhere without a
        download. For speed we train on a small balanced subset of 600 training images; the validation and
        test splits are the official ones (their class balance differs from the training subset, as it
        would between hospitals).

        When a dataset comes as one pile you split it yourself. The three parts must be **disjoint** (a
        patient in both train and test makes the test score a memory test; with several images per patient,
        split by patient) and together **cover** the data. Shuffle with a PRNG key, so that the split is random
        but reproducible, then cut one permutation. The sizes follow this rule:
        $n_\text{train} = \lfloor f_\text{train}\, n \rfloor$, $n_\text{val} = \lfloor f_\text{val}\, n \rfloor$,
        $n_\text{test} = n - n_\text{train} - n_\text{val}$ (for $n = 37$: 22, 7, 8).
        """),
        code(DATA_CELL, locked=True, grade_id="load_data"),
        code("""
        fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
        for row, cls in enumerate((0, 1)):
            for ax, i in zip(axes[row], np.flatnonzero(train_y == cls)[:8]):
                ax.imshow(train_x[i, :, :, 0], cmap="gray", vmin=0, vmax=1)
                ax.set_title("pneumonia" if cls else "normal", fontsize=8)
                ax.axis("off")
        fig.tight_layout()
        """, locked=True, grade_id="show_data"),
        solution('''
        def split_dataset(key, n, fractions=(0.6, 0.2, 0.2)):
            """Shuffle range(n) with `key`; return (train_idx, val_idx, test_idx), disjoint and covering."""
            ### BEGIN SOLUTION
            n_train = int(fractions[0] * n)
            n_val = int(fractions[1] * n)
            order = jax.random.permutation(key, n)
            return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]
            ### END SOLUTION
        ''', grade_id="split_dataset_solution"),
        g("test_split_dataset", "split_dataset", 2, """
        tr, va, te = split_dataset(jax.random.key(0), 37)
        print("sizes for n = 37:", len(tr), len(va), len(te))
        """),
        md(r"""
        ## 5. A small CNN

        Build exactly this network as a Flax linen module (NHWC input `(N, 28, 28, 1)`):

        | layer | output shape | parameters |
        |---|---|---|
        | `nn.Conv(8, (3, 3), padding="SAME")`, ReLU | (N, 28, 28, 8) | $3\cdot3\cdot1\cdot8 + 8 = 80$ |
        | `nn.max_pool`, window 2x2, stride 2 | (N, 14, 14, 8) | 0 |
        | `nn.Conv(16, (3, 3), padding="SAME")`, ReLU | (N, 14, 14, 16) | $3\cdot3\cdot8\cdot16 + 16 = 1168$ |
        | `nn.max_pool`, window 2x2, stride 2 | (N, 7, 7, 16) | 0 |
        | flatten (`x.reshape((x.shape[0], -1))`) | (N, 784) | 0 |
        | `nn.Dense(32)`, ReLU | (N, 32) | $784\cdot32 + 32 = 25120$ |
        | `nn.Dropout(self.dropout_rate, deterministic=not train)` | (N, 32) | 0 |
        | `nn.Dense(1)` (one logit) | (N, 1) | $32 + 1 = 33$ |

        26,401 parameters in all. Dropout is active only when `train=True` (then `apply` needs
        `rngs={"dropout": key}`); at evaluation it must be off, or predictions become random.
        The flatten order is NHWC's (row, column, channel): weights trained in PyTorch's NCHW order
        would not load one to one.
        """),
        solution('''
        class SimpleCNN(nn.Module):
            """Conv(8)-ReLU-Pool -> Conv(16)-ReLU-Pool -> flatten -> Dense(32)-ReLU -> Dropout -> Dense(1)."""

            dropout_rate: float = 0.0

            @nn.compact
            def __call__(self, x, train: bool = False):
                ### BEGIN SOLUTION
                x = nn.max_pool(nn.relu(nn.Conv(8, (3, 3), padding="SAME")(x)), (2, 2), strides=(2, 2))
                x = nn.max_pool(nn.relu(nn.Conv(16, (3, 3), padding="SAME")(x)), (2, 2), strides=(2, 2))
                x = x.reshape((x.shape[0], -1))
                x = nn.relu(nn.Dense(32)(x))
                x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
                return nn.Dense(1)(x)
                ### END SOLUTION
        ''', grade_id="simple_cnn_solution"),
        g("test_simple_cnn", "SimpleCNN", 2, """
        shapes = jax.eval_shape(SimpleCNN().init, jax.random.key(0), jnp.zeros((1, 28, 28, 1)))  # traced, not run
        print(jax.tree.map(lambda s: s.shape, shapes["params"]))
        """),
        md(r"""
        ## 6. A jitted training step

        Flax's `TrainState` bundles the parameters, the optimizer (`state.tx`, an optax transformation) and
        its state; `state.apply_gradients(grads=grads)` performs one update ($w \leftarrow w - \eta\, g$ for SGD).
        Write `train_step(state, images, labels) -> (new_state, loss)` that

        1. computes the logits `state.apply_fn({"params": params}, images)`, of shape `(N, 1)`, and takes
           `logits[:, 0]` so that they match the `(N,)` labels: an `(N, 1)` array minus an `(N,)` array
           silently broadcasts to an `(N, N)` matrix and the loss is wrong without any error;
        2. computes the mean **binary cross-entropy with logits**
           $\ell(z, y) = \max(z, 0) - z y + \log(1 + e^{-|z|})$ (stable for any logit; `optax.sigmoid_binary_cross_entropy`
           does this), with the labels cast to float;
        3. differentiates it with `jax.value_and_grad` and returns the updated state and the loss
           **before** the update.

        Decorate it with `@jax.jit`: the whole step compiles to one program. Inside it, no Python `if` on
        array values, no `float()`/`.item()`/`print` of traced values.
        """),
        solution('''
        @jax.jit
        def train_step(state, images, labels):
            """One optimizer step on the mean BCE-with-logits; returns (new_state, loss before the step)."""
            ### BEGIN SOLUTION
            def loss_fn(params):
                logits = state.apply_fn({"params": params}, images)[:, 0]  # (N, 1) -> (N,)
                return optax.sigmoid_binary_cross_entropy(logits, labels.astype(logits.dtype)).mean()

            loss, grads = jax.value_and_grad(loss_fn)(state.params)
            return state.apply_gradients(grads=grads), loss
            ### END SOLUTION
        ''', grade_id="train_step_solution"),
        g("test_train_step", "train_step", 3),
        md(r"""
        ## 7. Data augmentation

        Augmentation shows the network plausible variations of the training images so that it cannot
        memorise them. For chest X-rays, plausible means small changes of exposure: a brightness shift and a
        contrast change per image. A horizontal flip is **not** harmless here: it moves the heart to the
        right (dextrocardia is rare) and teaches the model that anatomy has no side.

        Write `augment(key, images)` for a batch `(N, H, W, 1)` in [0, 1]: draw for every image a brightness
        shift $b \sim U(-0.1, 0.1)$ and a contrast factor $c \sim U(0.9, 1.1)$, return
        $\mathrm{clip}((x - 0.5)\,c + 0.5 + b,\ 0,\ 1)$ with the input's shape and dtype. All randomness comes
        from `key` (split it for the two draws): the same key gives the same output, different keys differ.
        Use `jax.numpy` only, so that it can run inside a jitted training step.
        """),
        solution('''
        def augment(key, images):
            """Per-image random brightness (+-0.1) and contrast (x0.9..1.1), clipped to [0, 1]."""
            ### BEGIN SOLUTION
            k_shift, k_scale = jax.random.split(key)
            n = images.shape[0]
            shift = jax.random.uniform(k_shift, (n, 1, 1, 1), minval=-0.1, maxval=0.1)
            scale = jax.random.uniform(k_scale, (n, 1, 1, 1), minval=0.9, maxval=1.1)
            return jnp.clip((images - 0.5) * scale + 0.5 + shift, 0.0, 1.0).astype(images.dtype)
            ### END SOLUTION
        ''', grade_id="augment_solution"),
        g("test_augment", "augment", 2),
        md(r"""
        ## 8. Overfitting

        The next cell trains your `SimpleCNN` with your `train_step` (Adam, learning rate $3\cdot10^{-3}$) on
        the 600 training images for 20 epochs and records the loss on the training and validation splits
        after each epoch, in evaluation mode (`train=False`: dropout off). A network with 26,401 parameters
        can memorise 600 images: the training loss keeps falling while the validation loss stops improving
        and climbs. That gap is overfitting.
        """),
        code("""
        def mean_bce(logits, labels):
            return float(optax.sigmoid_binary_cross_entropy(logits, jnp.asarray(labels, jnp.float32)).mean())


        def train_plain(model, epochs=20, batch_size=50, lr=3e-3, seed=0):
            \"\"\"Your train_step in a plain loop; losses measured in evaluation mode after every epoch.\"\"\"
            params = model.init(jax.random.key(seed), jnp.zeros((1, 28, 28, 1)))["params"]
            state = TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(lr))
            logits_fn = jax.jit(lambda p, x: model.apply({"params": p}, x)[:, 0])  # train=False by default
            rng = np.random.default_rng(seed)
            history = {"train": [], "val": []}
            for epoch in range(epochs):
                order = rng.permutation(len(train_x))
                for i in range(0, len(order) - batch_size + 1, batch_size):
                    idx = order[i:i + batch_size]
                    state, _ = train_step(state, train_x[idx], train_y[idx])
                history["train"].append(mean_bce(logits_fn(state.params, train_x), train_y))
                history["val"].append(mean_bce(logits_fn(state.params, val_x), val_y))
            return state, history, logits_fn


        plain_state, plain_history, plain_logits = train_plain(SimpleCNN())
        best_epoch = int(np.argmin(plain_history["val"])) + 1
        print(f"train loss {plain_history['train'][0]:.3f} -> {plain_history['train'][-1]:.3f}; "
              f"val loss best {min(plain_history['val']):.3f} at epoch {best_epoch}, last {plain_history['val'][-1]:.3f}")
        fig, ax = plt.subplots(figsize=(5, 3))
        epochs = range(1, len(plain_history["train"]) + 1)
        ax.plot(epochs, plain_history["train"], label="train")
        ax.plot(epochs, plain_history["val"], label="validation")
        ax.axvline(best_epoch, color="grey", linestyle=":", label="early-stopping point")
        ax.set_xlabel("epoch"); ax.set_ylabel("BCE"); ax.legend(); fig.tight_layout()
        """, locked=True, grade_id="overfitting"),
        md(r"""
        ## 9. Regularisation

        Four remedies, switched on together below and compared with a run without them, both with
        `medjax.train.fit` (AdamW with a warm-up cosine schedule; it passes a fresh dropout key to every step
        and runs your `augment` inside the compiled step). Try them one at a time when you have a few minutes:

        * **dropout** (`SimpleCNN(dropout_rate=0.5)`): random units are zeroed during training, so no unit can
          rely on another; *off at evaluation*;
        * **weight decay** $\lambda$: AdamW shrinks every weight by $\eta\lambda w$ per step, preferring
          small weights;
        * **augmentation**: your `augment`, so the network never sees exactly the same image twice;
        * **early stopping**: keep the parameters of the epoch with the best validation loss and stop when it
          has not improved for `patience` epochs (the validation split chooses *when* to stop, so it is no
          longer an unbiased estimate: that is what the test split is for).

        Regularisation trades fitting speed for generalisation: on a short budget like this one it can cost
        a little validation loss, and it pays off when training runs long enough to overfit (the plain run's
        curve above). Judge it by the validation curve, never by the training loss.
        """),
        code("""
        from medjax.train import fit, predict

        train_set, val_set = {"images": train_x, "labels": train_y}, {"images": val_x, "labels": val_y}
        runs = {
            "no regularisation": dict(model=SimpleCNN(), weight_decay=0.0),
            "dropout + weight decay + augment": dict(model=SimpleCNN(dropout_rate=0.5), weight_decay=1e-2, augment=augment),
        }
        results = {}
        for name, cfg in runs.items():
            state, hist = fit(cfg.pop("model"), train_set, val_set, epochs=12, batch_size=50, lr=3e-3,
                              early_stopping_patience=4, progress=False, compilation_cache=False, **cfg)
            results[name] = (state, hist)
            val_losses = [r["val_loss"] for r in hist["epochs"]]
            print(f"{name:34s} epochs run {len(val_losses):2d}, best epoch {hist['best_epoch']:2d}, "
                  f"best val loss {min(val_losses):.3f}, val AUC {hist['epochs'][hist['best_epoch'] - 1]['val_auc']:.3f}")

        fig, ax = plt.subplots(figsize=(5, 3))
        for name, (_, hist) in results.items():
            ax.plot([r["val_loss"] for r in hist["epochs"]], label=name)
        ax.set_xlabel("epoch"); ax.set_ylabel("validation BCE"); ax.legend(fontsize=7); fig.tight_layout()
        """, locked=True, grade_id="regularisation"),
        md(r"""
        ## 10. Choosing the decision threshold on the validation split

        The network outputs a probability $p$; a decision needs a threshold $t$: predict pneumonia when
        $p \ge t$. The default $t = 0.5$ is arbitrary when the classes are imbalanced or the training set's
        prevalence differs from the clinic's. We choose $t$ on the **validation** split by maximising
        **Youden's J**

        $$J(t) = \text{sensitivity}(t) + \text{specificity}(t) - 1,$$

        over the candidate thresholds = the distinct validation probabilities (`np.unique`). On ties, take the
        **smallest** threshold (scan the candidates in increasing order and keep only strict improvements).
        Predictions are `probs >= t`, so the candidate itself counts as positive.

        Tuning $t$ on the **test** split instead is a leak: the test score then measures how well you
        fitted the test set, and it is optimistic. Use your own `recall` and `specificity`.
        """),
        solution('''
        def choose_threshold(val_probs, val_labels):
            """The validation probability t maximising Youden's J for predictions probs >= t (ties: smallest t)."""
            ### BEGIN SOLUTION
            probs = np.asarray(val_probs, dtype=np.float64).ravel()
            labels = np.asarray(val_labels).ravel()
            best_t, best_j = None, -np.inf
            for t in np.unique(probs):  # increasing order
                pred = (probs >= t).astype(int)
                j = recall(labels, pred) + specificity(labels, pred) - 1.0
                if j > best_j:  # strict: a tie keeps the smaller threshold
                    best_t, best_j = float(t), j
            return best_t
            ### END SOLUTION
        ''', grade_id="choose_threshold_solution"),
        g("test_choose_threshold", "choose_threshold", 3),
        md(r"""
        ## 11. The honest test report

        Take the run with the lowest validation loss (model selection is another decision made on
        validation), choose $t$ on validation, and only then look at the test split. Compare with $t = 0.5$, with a threshold tuned on the test split (the leak: it looks better
        than it is) and with the "always healthy" baseline.
        """),
        code("""
        best_run = min(results, key=lambda k: min(r["val_loss"] for r in results[k][1]["epochs"]))  # chosen on val
        print(f"model chosen on validation: {best_run}")
        state, hist = results[best_run]
        val_p, test_p = predict(state, val_x), predict(state, test_x)
        t_val = choose_threshold(val_p, val_y)
        t_test = choose_threshold(test_p, test_y)  # the leak, for comparison only


        def report(name, t, probs=test_p, labels=test_y):
            pred = (np.asarray(probs) >= t).astype(int)
            print(f"{name:30s} t={t:.3f}  acc {accuracy(labels, pred):.3f}  sens {recall(labels, pred):.3f}  "
                  f"spec {specificity(labels, pred):.3f}  F1 {f1(labels, pred):.3f}")


        report("threshold 0.5", 0.5)
        report("threshold chosen on val", t_val)
        report("threshold tuned on TEST (leak)", t_test)
        prevalence = float(test_y.mean())
        print(f"always 'healthy' at the test prevalence {prevalence:.2f}: accuracy "
              f"{always_negative_accuracy(prevalence):.3f}, sensitivity 0.000")
        print(confusion_matrix(test_y, (np.asarray(test_p) >= t_val).astype(int)))
        print(f"notebook time so far: {time.perf_counter() - T0:.0f} s")
        """, locked=True, grade_id="test_report"),
        md("""
        ## Done

        What to remember: report sensitivity and specificity, not accuracy alone; choose thresholds and
        hyper-parameters on validation and touch the test split once; match `(N,)` labels with `(N,)` logits;
        switch dropout off at evaluation; keep images NHWC.

        Run `medjax check a4_cnn_pneumonia.ipynb` in a terminal for a clean-process self-check of the whole
        notebook, then submit the notebook.
        """),
    ]


# =========================================================================== a5


def a5_cells() -> list:
    g = lambda grade_id, name, points, extra="": graded_tests(A5, grade_id, name, points=points,  # noqa: E731
                                                              extra_visible=extra)
    return [
        md(_join("""
        In this assignment you build the two architectures behind most medical-imaging models: the
        **residual network** (classification) and the **U-Net** (segmentation). You write the Dice overlap and
        loss, a residual block and its parameter count, a small U-Net that segments the opacities of synthetic
        chest X-rays, and two ways of asking a trained CNN *where it looks*: a gradient saliency map and
        Grad-CAM.
        """, HOW_TO_WORK.format(hidden="empty predictions of non-empty masks, batched masks, a custom eps, "
                                "stride-2 blocks, odd sizes, other channel counts and image sizes"))),
        code("""
        import time

        import numpy as np
        import jax
        import jax.numpy as jnp
        import flax.linen as nn
        import optax
        from flax.training.train_state import TrainState
        import matplotlib.pyplot as plt

        # The classic (non-partitionable) threefry PRNG compiles Flax's random initialisers about 5x
        # faster on CPU; it changes which random numbers a key gives, not their distribution.
        jax.config.update("jax_threefry_partitionable", False)

        from medjax.synthetic import synthetic_xray

        T0 = time.perf_counter()
        """, locked=True, grade_id="setup"),
        md(r"""
        ## 1. Dice

        A segmentation is a mask $P$ (predicted) against a mask $T$ (target). The Dice coefficient measures
        their overlap; for soft predictions $p_i \in [0, 1]$ the sums replace the set sizes:

        $$\mathrm{Dice}(P, T) = \frac{2\,|P \cap T| + \varepsilon}{|P| + |T| + \varepsilon}
          = \frac{2 \sum_i p_i t_i + \varepsilon}{\sum_i p_i + \sum_i t_i + \varepsilon},$$

        summed over **all** elements of the arrays (one number for the whole batch). The $\varepsilon$ goes
        **above and below** the line: a normal X-ray has an empty mask, and an empty prediction of an empty
        mask is perfect, $\varepsilon/\varepsilon = 1$. With $\varepsilon$ only below it would score $0$, and
        without $\varepsilon$ it would be $0/0 = $ NaN, which poisons a whole training run.

        The **Dice loss** is $1 - \mathrm{Dice}$; it must be written in `jax.numpy` so that `jax.grad` can
        differentiate it.
        """),
        solution('''
        def dice_coefficient(pred, target, eps=1e-6):
            """(2 sum(p t) + eps) / (sum(p) + sum(t) + eps) over all elements; two empty masks give 1."""
            ### BEGIN SOLUTION
            pred = jnp.asarray(pred, jnp.float32)
            target = jnp.asarray(target, jnp.float32)
            return (2.0 * jnp.sum(pred * target) + eps) / (jnp.sum(pred) + jnp.sum(target) + eps)
            ### END SOLUTION
        ''', grade_id="dice_coefficient_solution"),
        g("test_dice_coefficient", "dice_coefficient", 2),
        solution('''
        def dice_loss(pred, target):
            """1 - dice_coefficient(pred, target), differentiable with jax.grad."""
            ### BEGIN SOLUTION
            return 1.0 - dice_coefficient(pred, target)
            ### END SOLUTION
        ''', grade_id="dice_loss_solution"),
        g("test_dice_loss", "dice_loss", 2),
        md(r"""
        ## 2. The residual block

        A residual block learns a correction $F(x)$ to its input instead of a whole new representation:
        $y = \mathrm{ReLU}(F(x) + \mathrm{shortcut}(x))$. Gradients flow through the shortcut unchanged, which
        is what lets networks of 50 or 100 layers train. Build exactly this block (fields `features`, the
        output channels, and `strides`):

        $$F(x) = \mathrm{BN}(\mathrm{conv}_{3\times3}(\mathrm{ReLU}(\mathrm{BN}(\mathrm{conv}_{3\times3,\ \text{stride } s}(x)))))$$

        * both convolutions `nn.Conv(features, (3, 3), padding="SAME", use_bias=False)`, the first with
          `strides=(s, s)` (a bias before BatchNorm is redundant: BN's shift replaces it);
        * `nn.BatchNorm(use_running_average=not train)` after each conv (running statistics in the
          `batch_stats` collection);
        * **shortcut**: the identity $x$ when the shape is kept; a **projection** `nn.Conv(features, (1, 1),
          strides=(s, s), use_bias=False)` followed by BatchNorm when the number of channels changes **or**
          the stride is not 1 (otherwise $F(x) + x$ cannot be added);
        * the final ReLU comes **after** the addition.
        """),
        solution('''
        class ResidualBlock(nn.Module):
            """relu(BN(conv3x3(relu(BN(conv3x3_s(x))))) + shortcut(x)); projection when channels or stride change."""

            features: int
            strides: int = 1

            @nn.compact
            def __call__(self, x, train: bool = False):
                ### BEGIN SOLUTION
                s = (self.strides, self.strides)
                y = nn.Conv(self.features, (3, 3), strides=s, padding="SAME", use_bias=False)(x)
                y = nn.relu(nn.BatchNorm(use_running_average=not train)(y))
                y = nn.Conv(self.features, (3, 3), padding="SAME", use_bias=False)(y)
                y = nn.BatchNorm(use_running_average=not train)(y)
                if x.shape[-1] != self.features or self.strides != 1:
                    x = nn.Conv(self.features, (1, 1), strides=s, use_bias=False)(x)
                    x = nn.BatchNorm(use_running_average=not train)(x)
                return nn.relu(y + x)
                ### END SOLUTION
        ''', grade_id="residual_block_solution"),
        g("test_residual_block", "ResidualBlock", 3, """
        block = ResidualBlock(features=8, strides=2)
        x = jnp.zeros((2, 28, 28, 4))
        shapes = jax.eval_shape(block.init, jax.random.key(0), x)  # traced, not run
        print("output:", jax.eval_shape(block.apply, shapes, x).shape)
        print(jax.tree.map(lambda s: s.shape, shapes["params"]))
        """),
        md(r"""
        ### Counting its parameters

        With $C_\text{in}$ input and $C_\text{out}$ output channels: the first conv has
        $3\cdot3\cdot C_\text{in} C_\text{out}$ weights, the second $3\cdot3\cdot C_\text{out}^2$, each
        BatchNorm a scale and a bias per channel, $2 C_\text{out}$ (its running mean and variance are
        statistics, not parameters: they live in `batch_stats`). A projection adds
        $C_\text{in} C_\text{out} + 2 C_\text{out}$. Write the count for a **stride-1** block, where the
        projection exists exactly when $C_\text{in} \neq C_\text{out}$. (The stride changes no weight shape,
        but a strided block always needs the projection, even when $C_\text{in} = C_\text{out}$.)
        """),
        solution('''
        def residual_block_param_count(in_channels, out_channels):
            """Trainable parameters of a stride-1 ResidualBlock (BatchNorm scale and bias included)."""
            ### BEGIN SOLUTION
            count = 9 * in_channels * out_channels + 9 * out_channels * out_channels + 2 * (2 * out_channels)
            if in_channels != out_channels:
                count += in_channels * out_channels + 2 * out_channels
            return count
            ### END SOLUTION
        ''', grade_id="residual_block_param_count_solution"),
        g("test_residual_block_param_count", "residual_block_param_count", 2, """
        for c_in, c_out in ((16, 16), (16, 32)):
            v = jax.eval_shape(ResidualBlock(features=c_out).init, jax.random.key(0), jnp.zeros((1, 8, 8, c_in)))
            n = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(v["params"]))
            print(f"{c_in} -> {c_out}: formula {residual_block_param_count(c_in, c_out)}, Flax counts {n}")
        """),
        md(r"""
        ## 3. A small U-Net

        A U-Net is an encoder that halves the resolution and doubles the channels, a decoder that undoes it,
        and **skip connections** that hand each decoder level the encoder's features of the same resolution,
        so that the output is sharp. Build `UNet` (no fields; input `(N, H, W, 1)` with $H, W$ divisible by 4),
        with `conv` = `nn.Conv(c, (3, 3), padding="SAME")` followed by ReLU:

        1. `e1` = conv(8), conv(8) on the input; `e2` = conv(16), conv(16) on `max_pool(e1)` (2x2, stride 2);
        2. bottleneck `b` = conv(32), conv(32) on `max_pool(e2)`;
        3. `d2` = conv(16), conv(16) on `concatenate([ConvTranspose(16, (2, 2), strides=(2, 2))(b), e2], axis=-1)`;
        4. `d1` = conv(8), conv(8) on `concatenate([ConvTranspose(8, (2, 2), strides=(2, 2))(d2), e1], axis=-1)`;
        5. output: `nn.Conv(1, (1, 1))(d1)`, one **logit per pixel**, shape `(N, H, W, 1)`.
        """),
        solution('''
        class UNet(nn.Module):
            """Two-level U-Net (8, 16 channels; bottleneck 32) with skip connections; (N, H, W, 1) logits."""

            @nn.compact
            def __call__(self, x, train: bool = False):
                ### BEGIN SOLUTION
                def double_conv(h, c):
                    h = nn.relu(nn.Conv(c, (3, 3), padding="SAME")(h))
                    return nn.relu(nn.Conv(c, (3, 3), padding="SAME")(h))

                pool = lambda h: nn.max_pool(h, (2, 2), strides=(2, 2))  # noqa: E731
                e1 = double_conv(x, 8)
                e2 = double_conv(pool(e1), 16)
                b = double_conv(pool(e2), 32)
                d2 = double_conv(jnp.concatenate([nn.ConvTranspose(16, (2, 2), strides=(2, 2))(b), e2], axis=-1), 16)
                d1 = double_conv(jnp.concatenate([nn.ConvTranspose(8, (2, 2), strides=(2, 2))(d2), e1], axis=-1), 8)
                return nn.Conv(1, (1, 1))(d1)
                ### END SOLUTION
        ''', grade_id="unet_solution"),
        g("test_unet", "UNet", 2),
        md(r"""
        ### Segmenting the opacities

        `synthetic_xray` returns, with every image, the mask of its pneumonia-like opacities (empty for normal
        images). The next cell trains your U-Net for 200 steps with the sum of the pixel-wise BCE
        (which gives useful gradients from the first step) and your Dice loss on the probabilities (which
        counts the small foreground as much as the large background), then reports the Dice on held-out
        images, per image and for the normal images with empty masks (your $\varepsilon$ at work).
        """),
        code("""
        seg_train = synthetic_xray(384, seed=11, prevalence=0.75)
        seg_val = synthetic_xray(96, seed=12, prevalence=0.75)
        unet = UNet()
        params = unet.init(jax.random.key(0), seg_train["images"][:1])["params"]
        seg_state = TrainState.create(apply_fn=unet.apply, params=params, tx=optax.adam(5e-3))


        def seg_loss(params, images, masks):
            logits = unet.apply({"params": params}, images)
            bce = optax.sigmoid_binary_cross_entropy(logits, masks).mean()
            return bce + dice_loss(jax.nn.sigmoid(logits), masks)


        @jax.jit
        def seg_step(state, images, masks):
            loss, grads = jax.value_and_grad(seg_loss)(state.params, images, masks)
            return state.apply_gradients(grads=grads), loss


        rng = np.random.default_rng(0)
        for step in range(200):
            idx = rng.choice(384, 24, replace=False)
            seg_state, loss = seg_step(seg_state, seg_train["images"][idx], seg_train["masks"][idx])
        probs = jax.nn.sigmoid(jax.jit(unet.apply)({"params": seg_state.params}, seg_val["images"]))
        pred_masks = (probs > 0.5).astype(jnp.float32)
        per_image = np.array([float(dice_coefficient(p, t)) for p, t in zip(pred_masks, seg_val["masks"])])
        sick = seg_val["labels"] == 1
        print(f"final training loss {float(loss):.3f}")
        print(f"validation Dice: all pixels {float(dice_coefficient(pred_masks, seg_val['masks'])):.3f}, "
              f"mean per pneumonia image {per_image[sick].mean():.3f}, mean per normal image {per_image[~sick].mean():.3f}")
        fig, axes = plt.subplots(3, 6, figsize=(10, 5.2))
        for col, i in enumerate(np.flatnonzero(sick)[:6]):
            for row, (img, title) in enumerate(((seg_val["images"][i], "image"), (seg_val["masks"][i], "target"),
                                                (pred_masks[i], f"Dice {per_image[i]:.2f}"))):
                axes[row, col].imshow(np.asarray(img)[:, :, 0], cmap="gray", vmin=0, vmax=1)
                axes[row, col].set_title(title, fontsize=8)
                axes[row, col].axis("off")
        fig.tight_layout()
        """, locked=True, grade_id="segmentation"),
        md(r"""
        ## 4. Where does the classifier look?

        A **saliency map** is the magnitude of the gradient of the logit with respect to each pixel: how much a
        tiny change of that pixel would change the decision,

        $$S_{ij} = \max_c \left| \frac{\partial\, \text{logit}}{\partial x_{ijc}} \right| .$$

        Write `saliency_map(logit_fn, image)`: `logit_fn` maps a batch `(N, H, W, C)` to logits `(N, 1)` (for
        example `lambda x: model.apply(variables, x)`), `image` is one image `(H, W, C)`. Add the batch axis,
        take the single logit, differentiate with `jax.grad`, and return the `(H, W)` map.
        """),
        solution('''
        def saliency_map(logit_fn, image):
            """max over channels of |d logit / d image|, shape (H, W), for one (H, W, C) image."""
            ### BEGIN SOLUTION
            grad = jax.grad(lambda x: logit_fn(x[None])[0, 0])(jnp.asarray(image, jnp.float32))
            return jnp.max(jnp.abs(grad), axis=-1)
            ### END SOLUTION
        ''', grade_id="saliency_map_solution"),
        g("test_saliency_map", "saliency_map", 2),
        md(r"""
        **Grad-CAM** (Selvaraju et al., 2017) is coarser but less noisy. Take the activations $A_k$ (channel
        $k$, an $h \times w$ map) of the last convolutional block and the gradients $\partial y / \partial A_k$ of
        the logit $y$ with respect to them. Each channel gets the weight
        $\alpha_k = \frac{1}{hw}\sum_{ij} \partial y / \partial A_{k,ij}$ (the spatial **mean**), and

        $$L_\text{Grad-CAM} = \mathrm{ReLU}\Big(\sum_k \alpha_k A_k\Big),$$

        an $h \times w$ map of the positive evidence for the class (no normalisation here). Write
        `grad_cam(activations, gradients)` for arrays of shape `(h, w, K)`; the cell after it extracts them from
        a trained CNN (through Flax's `sow`/`perturb` taps of `medjax.models.SimpleCNN`) and upsamples your map
        to the image.
        """),
        solution('''
        def grad_cam(activations, gradients):
            """relu(sum_k alpha_k A_k), alpha_k = spatial mean of the gradients; (h, w, K) -> (h, w)."""
            ### BEGIN SOLUTION
            a = jnp.asarray(activations)
            alpha = jnp.mean(jnp.asarray(gradients), axis=(0, 1))  # (K,)
            return jax.nn.relu(jnp.sum(a * alpha[None, None, :], axis=-1))
            ### END SOLUTION
        ''', grade_id="grad_cam_solution"),
        g("test_grad_cam", "grad_cam", 2),
        code("""
        from medjax.models import SimpleCNN as TappedCNN
        from medjax.train import fit
        import medjax.interpret

        cls_train = synthetic_xray(600, seed=21)
        cls_val = synthetic_xray(200, seed=22)
        cnn = TappedCNN(features=(8, 16))
        cnn_state, cnn_hist = fit(cnn, cls_train, cls_val, epochs=8, batch_size=50, lr=5e-3,
                                  progress=False, compilation_cache=False)
        print(f"classifier val AUC {cnn_hist['epochs'][-1]['val_auc']:.3f}")
        variables = {"params": cnn_state.params}


        def activations_and_gradients(image, layer="block1"):
            \"\"\"A_k of a tapped layer and d logit / d A_k for one image (h, w, K each).\"\"\"
            x = jnp.asarray(image)[None]
            _, taps = cnn.apply(variables, x, mutable=["intermediates", "perturbations"])
            zeros = taps["perturbations"]
            grads = jax.grad(lambda p: cnn.apply({**variables, "perturbations": p}, x)[0, 0])(zeros)
            return taps["intermediates"][layer][0][0], grads[layer][0]


        logit_fn = lambda x: cnn.apply(variables, x)  # noqa: E731
        fig, axes = plt.subplots(3, 5, figsize=(9, 5.6))
        for col, i in enumerate(np.flatnonzero(cls_val["labels"] == 1)[:5]):
            image = cls_val["images"][i]
            cam = grad_cam(*activations_and_gradients(image))
            cam_up = jax.image.resize(cam, image.shape[:2], method="bilinear")
            reference = medjax.interpret.grad_cam(cnn, variables, image, layer="block1")
            top = float(cam_up.max())
            agree = bool(jnp.allclose(cam_up / (top if top > 0 else 1.0), reference, atol=1e-4))
            axes[0, col].imshow(image[:, :, 0], cmap="gray"); axes[0, col].contour(cls_val["masks"][i, :, :, 0], levels=[0.5], colors="r")
            axes[1, col].imshow(saliency_map(logit_fn, image), cmap="magma")
            axes[2, col].imshow(image[:, :, 0], cmap="gray"); axes[2, col].imshow(cam_up, cmap="jet", alpha=0.45)
            axes[0, col].set_title("opacity (red)", fontsize=8); axes[1, col].set_title("saliency", fontsize=8)
            axes[2, col].set_title(f"Grad-CAM {'= medjax' if agree else '!= medjax'}", fontsize=8)
            for ax in axes[:, col]:
                ax.axis("off")
        fig.tight_layout()
        """, locked=True, grade_id="where_it_looks"),
        md(r"""
        ### Question: a shortcut

        A pneumonia classifier trained on X-rays from two hospitals reaches an AUC of 0.97 on their test split.
        Its Grad-CAM maps of pneumonia cases are bright over the text marker that one hospital prints in the
        image corner, and dark over the lungs. What does this most likely mean?

        * **a** — The marker region holds subtle signs of pneumonia that radiologists overlook.
        * **b** — The model uses a shortcut: the marker tells the hospital, which predicts the label in this
          data; it must be tested on data from another hospital.
        * **c** — Grad-CAM is unreliable near the image border; the AUC of 0.97 shows the model is right.
        * **d** — Horizontal flips during training would move its attention to the lungs and fix it.

        Set `shortcut_answer` to `"a"`, `"b"`, `"c"` or `"d"`.
        """),
        solution('''
        ### BEGIN SOLUTION
        shortcut_answer = "b"
        ### END SOLUTION
        ''', grade_id="shortcut_answer_solution"),
        g("test_shortcut_answer", "shortcut_answer", 1),
        code("""
        print(f"notebook time: {time.perf_counter() - T0:.0f} s")
        """, locked=True, grade_id="timing"),
        md("""
        ## Done

        What to remember: Dice needs $\\varepsilon$ above and below the line; a residual block needs a projection
        whenever the shapes differ; count BatchNorm's scale and bias; a segmentation network returns one logit per
        pixel; and a saliency or Grad-CAM map is evidence about *what the model uses*, which is not always what
        a radiologist would.

        Run `medjax check a5_resnet_unet.ipynb` in a terminal for a clean-process self-check of the whole
        notebook, then submit the notebook.
        """),
    ]


def build(which: tuple[str, ...] = (A4, A5)) -> list[Path]:
    """Write the requested solution notebooks; return their paths."""
    specs = {A4: (a4_cells, "Assignment 4: a CNN for pneumonia, evaluated honestly"),
             A5: (a5_cells, "Assignment 5: residual networks, U-Net and where a CNN looks")}
    paths = []
    for assignment in which:
        cells, title = specs[assignment]
        nb = notebook(cells(), assignment=assignment, version="1.0", title=title)
        paths.append(write(nb, ROOT / "solutions" / assignment / f"{assignment}.ipynb"))
    return paths


if __name__ == "__main__":
    for p in build(tuple(sys.argv[1:]) or (A4, A5)):
        print(p)

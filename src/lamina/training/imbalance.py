"""Class weights for a heavily imbalanced classification target (fraud, faults, rare diagnoses).

The rule: a target is heavily imbalanced when its rarest class has fewer than IMBALANCE_RATIO times the rows of
its commonest (for two classes: the minority under 10% of the rows). Then each class's cross-entropy is
weighted by n / (k · n_c) over the training rows ("balanced" weights, as scikit-learn's
`compute_class_weight`), so every class carries the same total weight; otherwise no weights. A weighted
two-class target's early stopping then follows the validation PR-AUC (`validation_pr_auc`): the weighted loss
is not the score that matters, and on vehicle-insurance fraud it stopped at the second epoch.
"""

from __future__ import annotations

import numpy as np
import torch

IMBALANCE_RATIO = 1 / 9  # rarest / commonest class rows below this: weight the loss (two classes: minority < 10%)


def class_weights(train_labels: np.ndarray, classes: int) -> list[float] | None:
    """Per-class loss weights [classes] under heavy imbalance, else None. `train_labels`: class indices [rows]."""
    from sklearn.utils.class_weight import compute_class_weight

    counts = np.bincount(train_labels, minlength=classes)
    present = counts[counts > 0]
    if len(present) < 2 or present.min() >= IMBALANCE_RATIO * present.max():
        return None
    seen = np.flatnonzero(counts)
    weights = np.ones(classes)
    weights[seen] = compute_class_weight("balanced", classes=seen, y=train_labels)
    return weights.tolist()


def validation_pr_auc(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Average precision of the second class's probability; `outputs`: logits [rows, 2], `targets`: indices [rows]."""
    from sklearn.metrics import average_precision_score

    positive = targets.numpy() == 1
    if not positive.any():
        return 0.0
    return float(average_precision_score(positive, torch.softmax(outputs.float(), dim=1)[:, 1].numpy()))

import json
import math

import numpy as np

from lamina.plain import json_safe


def test_numpy_scalars_and_non_finite_numbers_become_valid_json():
    value = {"auc": float("nan"), "inf": np.float32("inf"), "n": np.int64(3), "rows": [np.float64(0.5), (1, 2)]}
    safe = json_safe(value)
    assert safe == {"auc": None, "inf": None, "n": 3, "rows": [0.5, [1, 2]]}
    assert type(safe["n"]) is int and not any(isinstance(v, float) and math.isnan(v) for v in safe.values())
    json.loads(json.dumps(safe, allow_nan=False))

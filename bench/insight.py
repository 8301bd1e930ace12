"""UCI Adult insight: bias audit on sex and race before and after threshold mitigation (and the
accuracy it costs), the time to explain 100 rows, and accuracy under FGSM/PGD attack for the default
model and a PGD-trained one (tabular attacks: L∞ on the standardised numeric inputs).

    python bench/insight.py

Reads $LAMINA_DATA/adult (default ../shared/data/adult), like bench/adult.py.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adult import data_folder, write_tables  # noqa: E402

SENSITIVE = ["sex", "race"]
EXPLAINED_ROWS = 100
ATTACKED_ROWS = 2000  # test rows attacked at every budget
ADVERSARIAL_BUDGET = 0.2  # L∞ radius of the training-time PGD examples (normal-score units)


def main() -> int:
    folder = data_folder()
    if not (folder / "adult-train.csv").exists():
        print(f"UCI Adult is not at {folder}; set LAMINA_DATA to the folder that holds adult/. Nothing was run.")
        return 2
    import pandas as pd

    import lamina
    from lamina.insight.explain import explain_rows, permutation_importance
    from lamina.insight.fairness import audit
    from lamina.insight.robustness import robustness_curve

    with tempfile.TemporaryDirectory() as scratch:
        train_path, test_path = write_tables(folder, Path(scratch))
        model = lamina.fit(train_path, "income", test=test_path, progress=False)
        test = pd.read_csv(test_path)
        result = audit(model, test, SENSITIVE, mitigate="threshold")
        rows = test.head(EXPLAINED_ROWS)
        explain_rows(model, rows.head(2))  # warm-up (captum import)
        started = time.perf_counter()
        explanation = explain_rows(model, rows)
        explain_seconds = time.perf_counter() - started
        started = time.perf_counter()
        permutation_importance(model, test.head(2000), repeats=3)
        importance_seconds = time.perf_counter() - started
        started = time.perf_counter()
        hardened = lamina.fit(train_path, "income", test=test_path, progress=False, adversarial="pgd",
                              adversarial_budget=ADVERSARIAL_BUDGET)
        hardened_seconds = time.perf_counter() - started
        attacked = test.head(ATTACKED_ROWS)
        curves = {"standard": robustness_curve(model, attacked), "PGD-trained": robustness_curve(hardened, attacked)}

    print(f"\nBias audit of the default Adult model on the {result['rows']} test rows "
          f"(favourable outcome {result['favourable']!r})")
    for column in SENSITIVE:
        values = {d["name"]: d["value"] for d in result["columns"][column]["disparities"]}
        print(f"  {column}: demographic parity difference {values['demographic_parity_difference']:.3f}, "
              f"ratio {values['demographic_parity_ratio']:.3f}, equalized odds difference "
              f"{values['equalized_odds_difference']:.3f}")
    print("\nThreshold mitigation (demographic parity), thresholds fitted on half the test rows, "
          "measured on the other half")
    print(f"{'column':<8} {'':<10} {'accuracy':>9} {'DP diff':>8} {'DP ratio':>9} {'EO diff':>8}")
    for column in SENSITIVE:
        report = result["mitigation"][column]
        for when in ("before", "after"):
            r = report[when]
            print(f"{column:<8} {when:<10} {r['accuracy']:>9.4f} {r['demographic_parity_difference']:>8.3f} "
                  f"{r['demographic_parity_ratio']:>9.3f} {r['equalized_odds_difference']:>8.3f}")
    print(f"\nIntegrated gradients for {EXPLAINED_ROWS} rows: {explain_seconds:.2f} s "
          f"(completeness gap {explanation['completeness_gap']:.4f}); "
          f"permutation importance on 2,000 rows × 3 repeats: {importance_seconds:.1f} s")
    print(f"\nAccuracy under attack on {ATTACKED_ROWS} test rows ({curves['standard']['space']}); "
          f"PGD training (budget {ADVERSARIAL_BUDGET}) took {hardened_seconds:.0f} s")
    budgets = [p["budget"] for p in curves["standard"]["curve"]]
    print(f"{'model':<12} {'attack':<6}" + "".join(f"{b:>8}" for b in budgets))
    for name, curve in curves.items():
        for attack in ("fgsm", "pgd"):
            print(f"{name:<12} {attack.upper():<6}" + "".join(f"{p[attack]:>8.4f}" for p in curve["curve"]))
        print(f"{name:<12} {curve['note']}; PGD at budget {curve['large_budget']['budget']}: "
              f"{curve['large_budget']['pgd']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The recommendation task's sections of report.html: test metrics beside the baselines, metrics by user
activity, popularity bias of the lists, example users with their history and recommendations, learning curves
and the split. Built from model.json and history.csv as document blocks (evaluation.document escapes them)."""

from __future__ import annotations

from lamina.evaluation.document import (
    Code,
    Figure,
    Paragraph,
    Section,
    Strong,
    Subheading,
    Table,
    number,
    section_html,
)
from lamina.evaluation.plots import Chart

MEANINGS = {"rmse": "root mean squared error of the ratings (lower is better)",
            "mae": "mean absolute error of the ratings (lower is better)",
            "hr": "share of users whose held-out item is in their top list",
            "recall": "share of each user's held-out items in their top list",
            "ndcg": "hits discounted by their rank (1 at the top)",
            "map": "mean precision at each hit's rank",
            "coverage": "share of the catalogue recommended to anyone"}


def recommend_sections(run, document: dict) -> list[str]:
    from lamina.run import HISTORY

    metrics, training = document["metrics"], document["training"]
    layout = document["task"]["state"]["layout"]
    explicit = metrics["feedback"] == "explicit"
    sections = [
        _summary(metrics, document["architecture"]["arch"]),
        _metrics(metrics, explicit),
        _by_activity(metrics["by_activity"], explicit),
        _popularity_bias(metrics),
        _examples(metrics["examples"], layout),
        _curves(run.read_table(HISTORY), explicit),
        _split(training, layout),
    ]
    return [section_html(section) for section in sections]


def _summary(metrics: dict, arch: str) -> Section:
    if metrics["feedback"] == "explicit":
        ours, theirs, name, against = metrics["test"]["rmse"], metrics["baseline"]["rmse"], "RMSE", "the global " \
            "mean plus user and item biases"
        better = ours < theirs
    else:
        name = next(key for key in metrics["test"] if key.startswith("ndcg"))
        ours, theirs, against = metrics["test"][name], metrics["baseline"][name], "the popularity ranking"
        better = ours > theirs
    verdict = "beats" if better else "does not beat"
    return Section("Summary", [Paragraph([f"The {arch} recommender {verdict} {against}: test {name} ", Strong(ours),
                                          " against ", theirs, "."])])


def _metrics(metrics: dict, explicit: bool) -> Section:
    baseline = "global mean + biases" if explicit else "popularity"
    columns = ["metric", "model", baseline, *(["global mean"] if explicit else []), "meaning"]
    rows = [[name, value, metrics["baseline"].get(name), *([metrics["global_mean"][name]] if explicit else []),
             MEANINGS.get(name.split("@")[0], "")] for name, value in metrics["test"].items()]
    where = ("Each test rating is predicted (clipped to the training range)." if explicit else
             f"Each test user's held-out item is ranked among {metrics['candidates']}.")
    return Section("Test metrics", [Paragraph([where]), Table(columns, rows)])


def _by_activity(buckets: list[dict], explicit: bool) -> Section:
    if explicit:
        columns = ["training interactions per user", "users", "test ratings", "RMSE model", "RMSE baseline"]
        rows = [[b["bucket"], b["users"], b["interactions"], b["rmse"], b["baseline_rmse"]] for b in buckets]
    else:
        names = [key for key in buckets[0] if key.startswith(("hr@", "ndcg@"))] if buckets else []
        columns = ["training interactions per user", "users",
                   *(f"{n} {who}" for n in names for who in ("model", "popularity"))]
        rows = [[b["bucket"], b["users"], *(b[key] for n in names for key in (n, f"popularity_{n}"))]
                for b in buckets]
    return Section("Metrics by user activity", [
        Paragraph(["New users (few training interactions) are where recommenders are weakest."]),
        Table(columns, rows)])


def _popularity_bias(metrics: dict) -> Section:
    bias, reach = metrics["popularity_bias"], metrics["catalogue_coverage"]
    return Section("Popularity bias", [
        Paragraph(["Share of the test users' top-10 recommendations taken by the 1% most popular items (by training "
                   "interactions), and the share of the catalogue that appears in any list."]),
        Table(["", "model", "popularity ranking"],
              [["from the top 1% items", _percent(bias["model"]), _percent(bias["popularity"])],
               ["catalogue coverage", _percent(reach["model"]), _percent(reach["popularity"])]])])


def _examples(examples: list[dict], layout: dict) -> Section:
    blocks = [Paragraph(["A few test users (the least, the median and the most active), their latest training "
                         "interactions and their top-10 list; ", Strong("held out"), " marks an item they went on "
                         "to have in the test part."])]
    for example in examples:
        blocks.append(Subheading(f"{layout['user']} {example['user']} "
                                 f"({example['training_interactions']} training interactions)"))
        history = [Code(h["item"]) if "rating" not in h else [Code(h["item"]), f" ({h['rating']:g})"]
                   for h in example["history"]]
        pieces = ["History: "]
        for index, entry in enumerate(history):
            pieces += ([", "] if index else []) + (entry if isinstance(entry, list) else [entry])
        blocks.append(Paragraph(pieces))
        rows = [[rank, Strong(r["item"]) if r["held_out"] else r["item"], "held out" if r["held_out"] else ""]
                for rank, r in enumerate(example["recommended"], start=1)]
        blocks.append(Table(["rank", layout["item"], ""], rows))
    return Section("Example recommendations", blocks)


def _curves(history, explicit: bool) -> Section:
    """The validation score of the network that chose the epoch (the final one trains without validation)."""
    history = history[history["fit"] == "select"] if "fit" in history else history
    key = "valid_rmse" if explicit else next((c for c in history.columns if c.startswith("valid_ndcg")), None)
    chart = Chart(f"Validation {key.removeprefix('valid_')} (choosing the epoch)" if key else "Training loss", "epoch",
                  key or "loss", integer_x=True)
    if key:
        chart.add("validation", history["epoch"], history[key])
    else:
        chart.add("training loss", history["epoch"], history["train_loss"])
    return Section("Learning curves", [Figure(chart)])


def _split(training: dict, layout: dict) -> Section:
    sizes = training["sizes"]
    facts = [("user column", layout["user"]), ("item column", layout["item"]),
             ("rating column", layout["rating"] or "none (implicit feedback)"), ("time column", layout["time"] or "none"),
             ("split", training["split"]), ("users", sizes["users"]), ("items", sizes["items"]),
             ("training interactions", sizes["train"]), ("validation interactions", sizes["valid"]),
             ("test interactions", sizes["test"]),
             ("epochs", f"{training['epochs_run']} to choose (best {training['best_epoch']}), then "
                        f"{training['final_epochs']} on training and validation interactions")]
    return Section("Data and split", [Table(["", ""], [[name, value] for name, value in facts])])


def _percent(value) -> str:
    return number(value, 1, percent=True)

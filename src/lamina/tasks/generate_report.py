"""The generate task's sections of report.html: its scores beside the real-vs-real floor and the Gaussian
baseline (with the plain statement that lamina-FD is not Inception-FID), per-class accuracy and diversity, the
memorisation check, sample grids over training, both players' loss curves and the split. Built from
model.json, history.csv and the grids in checkpoints/samples/ as document blocks (evaluation.document
escapes them; a grid is a PNG inlined as base64, which holds no character HTML gives a meaning)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from lamina.evaluation.document import Bullets, Figure, Paragraph, Section, Strong, Table, section_html
from lamina.evaluation.plots import Chart

GRIDS_SHOWN = 6  # epochs whose sample grid the report shows, evenly spaced, the last included


@dataclass
class Picture:
    """A PNG shown as a figure (an <svg> holding the image, so it sits among the charts)."""

    title: str
    png: bytes
    width: int
    height: int

    def svg(self) -> str:
        from html import escape

        data = base64.b64encode(self.png).decode("ascii")
        scale = max(1, 256 // max(self.width, 1))  # small grids (28-pixel images) are enlarged, pixels kept sharp
        width, height = self.width * scale, self.height * scale
        return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height + 20}'>"
                f"<text x='0' y='14' font-size='13'>{escape(self.title)}</text>"
                f"<image y='20' width='{width}' height='{height}' style='image-rendering:pixelated' "
                f"href='data:image/png;base64,{data}'/></svg>")


def generate_sections(run, document: dict) -> list[str]:
    from lamina.run import HISTORY

    metrics, training = document["metrics"], document["training"]
    sections = [_scores(metrics), _per_class(metrics), _memorisation(metrics["memorisation"]),
                _grids(run, training), _curves(run.read_table(HISTORY)), _split(training, document)]
    return [section_html(section) for section in sections]


def _scores(metrics: dict) -> Section:
    fd = metrics["fd"]
    verdict = "beats" if fd["generated"] < fd["gaussian"] else "does not beat"
    rows = [["generated vs test images", Strong(fd["generated"])],
            ["floor: training vs test images (real vs real)", fd["real"]],
            ["baseline: per-class Gaussian in pixel space vs test images", fd["gaussian"]]]
    blocks = [Paragraph([f"The generator {verdict} the per-class Gaussian baseline: lamina-FD ", Strong(fd["generated"]),
                         " against ", fd["gaussian"], f" (lower is better; {metrics['fd_images']} images a side)."]),
              Paragraph([Strong("Not Inception-FID, not comparable with papers. "), metrics["note"],
                         f" Features: {metrics['feature_extractor']}."]),
              Table(["Fréchet distance (lamina-FD)", "value"], rows)]
    if "generated_accuracy" in metrics:
        blocks.append(Paragraph(["The classifier names the requested class of ", Strong(metrics["generated_accuracy"]),
                                 " of generated images (mean over classes); on real test images it is right for ",
                                 metrics["classifier_test_accuracy"], "."]))
    diversity = metrics["diversity"]
    if diversity["collapsed"]:
        blocks.append(Paragraph([Strong("Mode collapse: "), f"the generated images of {len(diversity['collapsed'])} "
                                 f"class(es) ({', '.join(diversity['collapsed'][:10])}) are less than "
                                 f"{diversity['threshold']:.0%} as varied as real ones (mean feature distance "
                                 "between two images); the generator draws a few images over and over there."]))
    else:
        blocks.append(Paragraph(["No mode collapse found: generated images are ", diversity["ratio"],
                                 " times as varied as real ones (mean over classes of the mean feature distance "
                                 f"between two images; collapse is flagged below {diversity['threshold']:.0%})."]))
    return Section("Quality", blocks)


def _per_class(metrics: dict) -> Section:
    rows = metrics["per_class"]
    accuracy = "generated_accuracy" in rows[0]
    columns = ["class", *(["accuracy on generated", "accuracy on real test"] if accuracy else []),
               "diversity generated", "diversity real", "ratio"]
    table = [[row["class"], *([row["generated_accuracy"], row["real_accuracy"]] if accuracy else []),
              row["generated_diversity"], row["real_diversity"], row["diversity_ratio"]] for row in rows]
    return Section("By class", [Paragraph(["Accuracy: the classifier's share of images it names as their class. "
                                           "Diversity: the mean distance between two images' features."]),
                                Table(columns, table)])


def _memorisation(found: dict) -> Section:
    copies = found["copies"]
    verdict = ("No sign of copying" if copies <= 3 * found["expected_copies"] else
               "Generated images sit unusually near training images: the generator may be copying them")
    return Section("Memorisation", [
        Paragraph([f"{verdict}. Distance from each image to its nearest training image (root mean squared pixel "
                   f"difference, pixels in 0–1), over {found['images']} images:"]),
        Bullets([["generated images: median ", Strong(found["generated_median"])],
                 ["real test images (never trained on): median ", found["test_median"]],
                 ["generated images nearer than 99% of test images are: ", Strong(copies), " (about ",
                  found["expected_copies"], " for a generator that copies nothing)"]])])


def _grids(run, training: dict) -> Section:
    from lamina.tasks.generate import SAMPLES

    folder = run.checkpoints / SAMPLES
    grids = sorted(folder.glob("epoch_*.png")) if folder.is_dir() else []
    if not grids:
        return Section("Samples over training", [Paragraph(["No sample grids were kept (a model trained without a "
                                                            "run folder)."])])
    step = max(1, -(-len(grids) // GRIDS_SHOWN))
    shown = grids[::-1][::step][::-1]  # evenly spaced, ending with the last epoch
    from PIL import Image

    figures = []
    for path in shown:
        with Image.open(path) as image:
            width, height = image.size
        figures.append(Figure(Picture(f"after epoch {int(path.stem.split('_')[1])}", path.read_bytes(), width,
                                      height)))
    rows = "a row per class" if training.get("classes") else "8 rows"
    return Section("Samples over training", [Paragraph([f"Images drawn from the same noise after each shown epoch by "
                                                        f"the averaged generator ({rows})."]), *figures])


def _curves(history) -> Section:
    chart = Chart("Losses of both players (hinge)", "epoch", "mean loss over the epoch", integer_x=True)
    chart.add("discriminator", history["epoch"], history["discriminator_loss"])
    chart.add("generator", history["epoch"], history["generator_loss"])
    score = Chart("Discriminator score of held-out real images", "epoch", "mean score", integer_x=True)
    score.add("validation images", history["epoch"], history["valid_real_score"])
    return Section("Learning curves", [
        Paragraph(["A discriminator loss near 0 with a rising generator loss means the discriminator wins; a GAN's "
                   "losses do not track image quality, which the scores above measure."]),
        Figure(chart), Figure(score)])


def _split(training: dict, document: dict) -> Section:
    state, sizes = document["task"]["state"], training["sizes"]
    hyper = document["architecture"]["hyperparameters"]
    facts = [("images", f"{state['side']}×{state['side']} pixels, {state['channels']} channel(s)"),
             ("classes", ", ".join(state["classes"][:20]) or "none (unconditional)"),
             ("split", training["split"]), ("training images", sizes["train"]), ("validation images", sizes["valid"]),
             ("test images", sizes["test"]),
             ("network", f"DCGAN, width {hyper['width']}, noise of {hyper['latent']} dimensions, moving average "
                         f"{hyper['ema_decay']} per step"),
             ("epochs", f"{training['epochs_run']} ({training['generator_steps']} generator steps, batch "
                        f"{training['batch_size']}; {training['stop_reason']})"),
             ("training time", f"{training['seconds']} s")]
    return Section("Data and training", [Table(["", ""], [[name, value] for name, value in facts])])

"""`lamina federate` as separate processes: lamina's ClientApp and ServerApp for Flower's deployment engine.

The same Coordinator and Client as the simulation (federated.py), run as a Flower App (lamina/flower_app) by a
SuperLink, one SuperNode per client and `flwr run` (ARCHITECTURE.md, "Federated training"):

    flower-superlink --insecure --disable-runtime-dependency-installation --port 9093
    flower-supernode --insecure --superlink SERVER:9093 --node-config "data='hospital_a.csv'"   # per client
    flwr run APP_DIR CONNECTION --stream --run-config "target='y' clients=2 rounds=20 out='runs/fed'"

(APP_DIR below; CONNECTION a `[superlink.NAME]` entry of Flower's config.toml with the SuperLink's address.)

Each SuperNode's node config names its own table (`data`); its rows never leave it. The server reads the
run config (flower_app/pyproject.toml lists the keys) and writes the run folder: the model, metrics.json and
the per-round history. The test metrics are the clients' pooled sums for the best round (loss and accuracy);
no held-out table or report, since the server never sees a row.
"""

from __future__ import annotations

from pathlib import Path

from lamina.errors import LaminaError
from lamina.federated import Client, Coordinator, Federation, _model, client_app, refuse_what_cannot_federate

APP_DIR = Path(__file__).parent / "flower_app"  # the Flower App folder `flwr run` is given


def _client_of(context, settings: dict) -> Client:
    """This SuperNode's Client: its table (node config `data`) split by the server's settings."""
    from lamina.config import Config
    from lamina.data.read import read_table

    path = context.node_config.get("data")
    if not path:
        raise LaminaError("This SuperNode has no table: start it with --node-config \"data='PATH'\".")
    return Client(read_table(str(path), f"client table {path}"), Config.from_dict(settings, "server settings"))


def _serve(grid, context) -> None:
    """The ServerApp's body: the federation from the run config, trained, its run folder written."""
    from lamina.api import resolve_config
    from lamina.run import RunFolder

    settings = context.run_config
    if not settings.get("target"):
        raise LaminaError("Name the target: flwr run ... --run-config \"target='COLUMN'\".")
    config = resolve_config(settings.get("config") or None, target=str(settings["target"]))
    federation = Federation(rounds=int(settings["rounds"]), local_epochs=int(settings["local-epochs"]),
                            fraction=float(settings["fraction"]), strategy=str(settings["strategy"]),
                            mu=float(settings["mu"]))
    clients = int(settings["clients"])
    federation.check(clients)
    refuse_what_cannot_federate(config)
    coordinator = Coordinator(config, federation, clients)
    coordinator.main(grid, context)
    if getattr(coordinator, "error_", None) is not None:
        raise coordinator.error_
    run = RunFolder(Path(str(settings["out"])))
    names = [f"node {node}" for node in sorted(grid.get_node_ids())]
    with run.lock():
        run.create().write_config(config)
        _model(coordinator, names, f"{federation.strategy} over {clients} SuperNodes", run)


def _server_app():
    from flwr.serverapp import ServerApp

    app = ServerApp()
    app.main()(_serve)
    return app


server = _server_app()
client = client_app(_client_of)

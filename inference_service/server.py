"""Entry point of the model server process: one StereoModel on kserve.ModelServer."""

from __future__ import annotations

import logging

from stereo_spot.settings import Settings
from stereo_spot.wiring import storage_from


def serve(settings: Settings, port: int = 8080) -> None:
    # kserve parses sys.argv when imported; import it only in the server process.
    import kserve

    from inference_service.model import StereoModel

    model = StereoModel(
        settings.model_name, settings.engine, settings.weights, storage_from(settings)
    )
    model.load()
    logging.getLogger(__name__).info(
        "model %s (engine %s) ready=%s on port %d", model.name, model.engine_name, model.ready, port
    )
    server = kserve.ModelServer(http_port=port, enable_grpc=False, workers=1)
    if model.ready:
        server.start([model])
        return
    # start() exits with NoModelReady when no model it is given is ready. Registered directly,
    # the model that failed to load is still served: readiness and predict answer 503 with its
    # load error (StereoModel.healthy), which says what to fix, instead of a crash loop.
    server.register_model(model)
    server.start([])

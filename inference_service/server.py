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
    kserve.ModelServer(http_port=port, enable_grpc=False, workers=1).start([model])

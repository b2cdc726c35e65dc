"""Entry point of the model server process: one StereoModel on kserve.ModelServer."""

from __future__ import annotations

import ctypes
import ctypes.util
import faulthandler
import logging
import os

from stereo_spot.settings import Settings
from stereo_spot.wiring import storage_from

# glibc's mallopt parameter for the most malloc arenas (what MALLOC_ARENA_MAX sets).
M_ARENA_MAX = -8
# glibc gives each new thread an arena of its own, up to eight per core, and memory freed in an
# arena seldom goes back to the system. Every segment starts new decode, engine and encoder
# threads, so a long-lived server's resident memory crept up: by ~170 MB over ten 1080p
# side-by-side segments. With two arenas its peak was ~100 MB lower (1110-1117 MB against
# 1162-1248 MB), its speed the same within those runs' noise (docs/BENCHMARKS.md).
SERVER_MALLOC_ARENAS = 2


def limit_malloc_arenas(count: int = SERVER_MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process (before its threads start); False where the C
    library is not glibc, or the operator set MALLOC_ARENA_MAX, which then stands."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, count))


# Where a model server on someone's machine listens: it converts any object its storage holds
# into any key there, for whoever asks, so only this machine may ask. Its pod on a cluster
# listens everywhere (`serve-model --host 0.0.0.0`), behind the cluster's network.
LOOPBACK = "127.0.0.1"


def serve(settings: Settings, port: int = 8080, host: str = LOOPBACK) -> None:
    limit_malloc_arenas()
    # A crash in native code (OpenCV, libavcodec, torch) ends the process without a Python
    # traceback; this writes the Python stack of every thread to stderr (the server's log) first.
    faulthandler.enable()
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
    _patch_rest_server(host)
    server = kserve.ModelServer(http_port=port, enable_grpc=False, workers=1)
    if model.ready:
        server.start([model])
        return
    # start() exits with NoModelReady when no model it is given is ready. Registered directly,
    # the model that failed to load is still served: readiness and predict answer 503 with its
    # load error (StereoModel.healthy), which says what to fix, instead of a crash loop.
    server.register_model(model)
    server.start([])


def _patch_rest_server(host: str) -> None:
    """Make kserve's REST server listen on ``host`` and answer a model that is not ready
    without a traceback. Neither can be asked of it (kserve 0.21): it builds its uvicorn config
    with 0.0.0.0 written into the code, and its handlers are added in its own code, so the class
    its ModelServer builds it from is replaced by one that changes both before uvicorn starts."""
    import kserve.model_server
    from kserve.errors import ModelNotReady
    from kserve.protocol.rest.server import RESTServer

    class _StereoRESTServer(RESTServer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.config.host = host  # read when uvicorn starts, after this

        def _register_endpoints(self, app) -> None:
            # Ahead of kserve's own, so matched first: its model repository routes let any
            # caller unload the one model (a body-less POST, which a web page can send to
            # 127.0.0.1 without a preflight), after which every segment failed, readiness still
            # said ready, and nothing restarted the server.
            app.add_api_route(
                "/v2/repository/{anything:path}",
                refuse_repository,
                methods=["GET", "POST"],
                include_in_schema=False,
            )
            super()._register_endpoints(app)

        def _add_exception_handlers(self, app) -> None:
            super()._add_exception_handlers(app)
            app.add_exception_handler(ModelNotReady, answer_not_ready)

    kserve.model_server.RESTServer = _StereoRESTServer


async def refuse_repository(anything: str):
    """403 for kserve's model repository (load, unload, index): this server serves one model,
    loaded as it starts."""
    from fastapi.responses import JSONResponse

    return JSONResponse(
        status_code=403,
        content={
            "error": "This model server serves one model, loaded as it starts; it is not loaded "
            "or unloaded through the repository API."
        },
    )


async def answer_not_ready(_request, error: Exception):
    """503 with why, as kserve's own handler answers, minus its log: that logged the error's
    traceback, ~28 lines, for every readiness probe (every few seconds) of a model whose load
    failed, burying the one line StereoModel.load logged saying why. Not being ready is the
    state a probe asks about, not a fault of the request."""
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=503, content={"error": str(error)})

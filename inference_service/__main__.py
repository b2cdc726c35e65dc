"""``python -m inference_service --port 8080``: the model server process."""

import argparse
import logging

from inference_service.server import serve
from stereo_spot.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m inference_service")
    parser.add_argument("--port", type=int, default=8080)
    args, _unknown = parser.parse_known_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve(Settings(), port=args.port)


if __name__ == "__main__":
    main()

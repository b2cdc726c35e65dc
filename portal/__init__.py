"""The Stereo-Spot web portal: upload, watch progress, play and download (FastAPI + Jinja2)."""

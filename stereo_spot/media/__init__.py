"""ffmpeg helpers: probe and reject, split by keyframes, decode/encode frames, join and mux."""

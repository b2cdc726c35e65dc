"""The KServe model server and the stereo engines it hosts."""

"""The KFP pipeline, its compiler entry point and the local runner."""

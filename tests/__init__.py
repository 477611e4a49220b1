"""The test suite of qoder_async."""

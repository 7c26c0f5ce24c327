"""The one exception the CLI turns into `microformer: message` and exit status 1.

Subclasses say which stage failed; callers that only want to report catch the base.
"""


class MicroformerError(Exception):
    """A problem the user can fix (bad input, missing file, unsupported model)."""


class DataError(MicroformerError):
    """The dataset is missing, empty, malformed or does not fit the model."""


class ModelError(MicroformerError):
    """The model file is unreadable, lacks metadata, or uses what the engine lacks."""


class EngineUnavailable(MicroformerError):
    """The `_uformer` extension is not importable, so no on-device numbers can be computed."""

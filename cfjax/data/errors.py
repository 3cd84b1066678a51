"""The error type raised by the dataset loaders."""


class DatasetError(ValueError):
  """A dataset is missing, unknown or malformed. The message is always a single line."""

  def __init__(self, message: str):
    super().__init__(" ".join(str(message).split()))

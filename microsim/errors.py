"""Exception and warning classes of microsim.

Every error a user can cause is a :class:`MicrosimError`; each subclass also
subclasses the builtin that fits, so ``except ValueError`` keeps working.
"""


class MicrosimError(Exception):
    """Base class of every error microsim raises on purpose."""


class InvalidInputError(MicrosimError, ValueError):
    """A value given to microsim is outside what it accepts."""


class InvalidMicrostructureError(InvalidInputError):
    """A label volume, voxel size, phase table or grain map is not valid."""


class UnitError(InvalidInputError):
    """A quantity has no unit, an unknown unit, or an impossible value."""


class InputFileError(MicrosimError, OSError):
    """A file is missing, unreadable, or not in a format microsim reads."""


class OutputExistsError(MicrosimError, FileExistsError):
    """An output file exists already and overwriting was not allowed."""


class ConvergenceError(MicrosimError, RuntimeError):
    """An iterative solver did not reach its tolerance."""


class ResourceError(MicrosimError, MemoryError):
    """A problem needs more memory than this machine has."""


class MissingDependencyError(MicrosimError, ImportError):
    """An optional package is needed; the message says how to install it."""


class MicrosimWarning(UserWarning):
    """Base class of microsim's warnings."""


class PercolationWarning(MicrosimWarning):
    """A phase has no path connecting the two faces of a transport axis."""


class SegmentationWarning(MicrosimWarning):
    """The grey values cannot support the segmentation asked for (more classes than
    histogram modes, a classifier that is unsure on many voxels)."""

"""The exception classes of aws-xray-sdk, under the same names, so ``except`` clauses keep working.

Only :class:`SegmentNameMissingException` (``begin_segment`` with no name and
no service) and :class:`SegmentNotFoundException` (no segment, under
``context_missing='RUNTIME_ERROR'``) are raised here; the others exist for
code that catches them.

Internal: the public names are those of ``otel_xray.compat``, which imports
them from here.
"""


class InvalidSamplingManifestError(Exception):
    pass


class SegmentNotFoundException(Exception):
    pass


class InvalidDaemonAddressException(Exception):
    pass


class SegmentNameMissingException(Exception):
    pass


class SubsegmentNameMissingException(Exception):
    pass


class FacadeSegmentMutationException(Exception):
    pass


class MissingPluginNames(Exception):
    pass


class AlreadyEndedException(Exception):
    pass

"""The errors of :mod:`xrfast.sampling`.

* :class:`SamplingRuleError` — a local sampling rules document (file, JSON text or dict) is not
  valid. It names the rule (``rules[2]``, ``default``) and the field at fault.
* :class:`SamplingRequestError` — a centralized sampling API call was refused: the request broke
  X-Ray's model (``InvalidRequestException``), the rule limit was reached
  (``RuleLimitExceededException``), or a transport answered with an error. It carries X-Ray's
  error code and message, and the HTTP status and body an X-Ray endpoint answers with.
"""

from __future__ import annotations

from typing import Any

from xrfast.exceptions import XRayError

__all__ = ["SamplingRequestError", "SamplingRuleError"]

#: HTTP status of each X-Ray error code (botocore's model; 400 where the model gives none).
HTTP_STATUS = {
    "InvalidRequestException": 400,
    "RuleLimitExceededException": 400,
    "ThrottledException": 429,
    "ResourceNotFoundException": 404,
}


class SamplingRuleError(XRayError, ValueError):
    """A local sampling rules document is not valid.

    The message names the rule and the field, for example
    ``sampling rules: rules[1] ("health checks"): "rate" must be a number ≥ 0, not "0.5"``.
    """

    #: The rule at fault: ``"default"``, ``"rules[1]"``, or ``None`` for the document itself.
    rule: str | None
    #: The field at fault (``"rate"``, ``"url_path"``, ``"version"``, …), if one is.
    field: str | None

    def __init__(self, message: str, *, rule: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.field = field


class SamplingRequestError(XRayError):
    """A centralized sampling API call failed with an X-Ray error.

    Arguments:
        code: X-Ray's error code, such as ``"InvalidRequestException"``.
        message: what was wrong, in X-Ray's style.
        http_status: the HTTP status; by default the one X-Ray uses for `code`.
    """

    #: X-Ray's error code (also in ``error_code``, as for every :class:`XRayError`).
    code: str
    #: The message, as sent in the error body.
    message: str
    #: The HTTP status an X-Ray endpoint answers with.
    http_status: int

    def __init__(self, code: str, message: str, *, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = self.error_code = code
        self.message = message
        self.http_status = HTTP_STATUS.get(code, 400) if http_status is None else http_status

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body botocore reads: ``{"__type": code, "message": message}``.

        Returns:
            The body; send it with status :attr:`http_status` and the header
            ``x-amzn-ErrorType: <code>``.
        """
        return {"__type": self.code, "message": self.message}

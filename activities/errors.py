"""Translate domain errors into non-retryable Temporal failures carrying the same code."""

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

from models.errors import DomainError

P = ParamSpec("P")
R = TypeVar("R")


def business_failure(error: DomainError) -> ApplicationError:
    return ApplicationError(error.message, error.details, type=error.code, non_retryable=True)


def raises_business_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Domain errors end the activity for good; anything else is transient and retried."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except DomainError as error:
            raise business_failure(error) from error

    return wrapper

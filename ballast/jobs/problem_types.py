"""API problem types of jobs, dead letters and queue processing."""

from ballast.api.problem_details import ProblemType, register_problem_types

register_problem_types(
    ProblemType(
        "conflict",
        (409,),
        "The resource is not in a state that allows this: retrying a job that is neither failed nor cancelled, "
        "cancelling a finished job, restoring a document that is not in the trash.",
    ),
    ProblemType(
        "idempotency-conflict",
        (422,),
        "The Idempotency-Key already names a job of another type or payload.",
    ),
    ProblemType("invalid-queue-secret", (403,), "X-Queue-Secret is set but is not the configured secret."),
)

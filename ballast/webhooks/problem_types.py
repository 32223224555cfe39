"""API problem types of webhook endpoints."""

from ballast.api.problem_details import ProblemType, register_problem_types

register_problem_types(
    ProblemType(
        "webhook-endpoint-limit",
        (409,),
        "The tenant has WEBHOOK_MAX_ENDPOINTS_PER_TENANT endpoints already; delete one first.",
    ),
)

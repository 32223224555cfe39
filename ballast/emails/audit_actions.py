"""Audit actions of email deliveries."""

from ballast.tenants.audit import register_actions

register_actions(
    {
        "email.queued": "An email delivery was created and its send job enqueued.",
        "email.sending": "An SMTP conversation began (committed before it starts).",
        "email.sent": "The SMTP server accepted the message.",
        "email.failed": "The SMTP server refused the message for good (5xx), or attempts ran out.",
        "email.outcome_unknown": "An attempt died mid-conversation: the message may or may not have been sent.",
        "email.deferred": "A temporary failure: the delivery waits for its next attempt.",
    }
)

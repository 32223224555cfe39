"""The console pages, served as admin entries without tables (registered in ops.admin): "Ops: queue"
(/admin/ops/queue/), "Ops: jobs" (/admin/ops/jobs/), "Ops: schedules" (/admin/ops/schedules/), "Ops: batches"
(/admin/ops/batches/), "Ops: uploads" (/admin/ops/uploads/) and "Ops: governance" (/admin/ops/governance/, read
only). Staff with ops.view_console read; ops.operate_queue / ops.operate_uploads act (a POST without them answers
403). Each view translates the request and calls a selector or an ops.actions object."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django_htmx.middleware import HtmxDetails

from ballast.jobs import policy, registry, schedules
from ballast.jobs.bulk import JobFilter
from ballast.lib import metrics
from ballast.lifecycle.governance import governance_report
from ballast.lifecycle.health import check_health
from ballast.ops import actions, charts, idempotency_stats, rollups, selectors
from ballast.ops import metrics as ops_metrics


def _int(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise actions.ActionRefused(f"Expected a whole number, not {value!r}.") from None


def _choice(data: Any, name: str, choices: Any, default: str = "") -> str:
    """A filter that takes one of a few values: an unknown one is refused, never read as another."""
    value = data.get(name) or default
    if value and value not in choices:
        raise actions.ActionRefused(f"Unknown {name} {value!r}: choose one of {', '.join(choices)}.")
    return str(value)


def _span(window: str) -> tuple[datetime, datetime]:
    now = timezone.now()
    return now - rollups.WINDOWS[window][0], now


class ConsoleAdmin(admin.ModelAdmin[Model]):
    """An admin entry with no table: its change list is a console page."""

    template: str = ""
    operate_permission: str = ""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff and request.user.has_perm(actions.VIEW))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def can_operate(self, request: HttpRequest) -> bool:
        return bool(self.has_module_permission(request) and request.user.has_perm(self.operate_permission))

    def tenant_filter(self, request: HttpRequest) -> int | None:
        """The page's tenant; an unknown one is refused (never read as all tenants)."""
        return actions.tenant_id_of(request.GET.get("tenant") or request.POST.get("filter_tenant") or "")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self.post(request)
        try:
            tenant_id = self.tenant_filter(request)
            page = self.page_context(request, tenant_id)
        except actions.ActionRefused as exc:
            return self.refused(request, str(exc))
        return self.render_console(request, self.template_for(request), {"tenant_id": tenant_id, **page})

    def template_for(self, request: HttpRequest) -> str:
        return self.template

    def render_console(self, request: HttpRequest, template: str, context: dict[str, Any]) -> TemplateResponse:
        # A live refresh (htmx, ops/console-live.js) takes the page's content only, without the admin's chrome.
        live = bool(HtmxDetails(request))
        response = TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "title": self.model._meta.verbose_name,
                "opts": self.model._meta,
                "can_operate": self.can_operate(request),
                "tenants": selectors.tenant_choices(),
                "ops_base": "admin/ops/_fragment.html" if live else "admin/base_site.html",
                **context,
            },
        )
        patch_vary_headers(response, ("HX-Request",))
        return response

    def refused(self, request: HttpRequest, reason: str) -> HttpResponse:
        """A filter the page cannot take: the page says what was wrong, with a 400."""
        response = self.render_console(request, "admin/ops/refused.html", {"refused": reason, "tenant_id": None})
        response.status_code = 400
        return response

    def page_context(self, request: HttpRequest, tenant_id: int | None) -> dict[str, Any]:
        return {}

    def build_action(self, request: HttpRequest, name: str) -> actions.OperatorActionBase:
        raise actions.ActionRefused(f"Unknown action {name!r}.")

    def post(self, request: HttpRequest) -> HttpResponse:
        if not self.can_operate(request):
            raise PermissionDenied(f"{request.user.get_username()} may not act here ({self.operate_permission}).")
        try:
            action = self.build_action(request, request.POST.get("action", ""))
            action.check(request.user)
            outcome = action.execute()
        except actions.ActionRefused as exc:
            messages.error(request, str(exc))
            return self._back(request, status=400)
        messages.success(request, outcome.message)
        target = self.redirect_for(request, outcome)
        return HttpResponseRedirect(target) if target else self._back(request)

    def redirect_for(self, request: HttpRequest, outcome: actions.Outcome) -> str | None:
        return None

    def _back(self, request: HttpRequest, status: int = 302) -> HttpResponse:
        # A form without an action posts to the page's own URL: its query string is the page's filters.
        query = request.GET.copy()
        if not query.get("tenant") and request.POST.get("filter_tenant"):
            query["tenant"] = request.POST["filter_tenant"]
        url = request.path + (f"?{query.urlencode()}" if query else "")
        if status == 302:
            return HttpResponseRedirect(url)
        # Refused input: the page again with the reason, and a 4xx status.
        response = self.changelist_view_get(request)
        response.status_code = status
        return response

    def changelist_view_get(self, request: HttpRequest) -> HttpResponse:
        request.method = "GET"
        return self.changelist_view(request)


class QueueConsoleAdmin(ConsoleAdmin):
    template = "admin/ops/queue.html"
    operate_permission = actions.OPERATE_QUEUE

    def page_context(self, request: HttpRequest, tenant_id: int | None) -> dict[str, Any]:
        window = _choice(request.GET, "window", rollups.WINDOWS, default="1h")
        queue = _choice(request.GET, "queue", policy.QUEUES)
        snapshot = selectors.snapshot(tenant_id=tenant_id)
        listening = {health.queue: health.workers for health in snapshot.queues}
        return {
            "trends": self.trends(window, queue, tenant_id),
            "idempotency": self.idempotency(window, tenant_id),
            "wakeups": selectors.wakeup_queues(listening=listening) if snapshot.redis_ok else None,
            "snapshot": snapshot,
            "types": selectors.type_overview(tenant_id=tenant_id),
            "hints": selectors.tenant_hints(),
            "dead_letters": selectors.dead_letters(tenant_id=tenant_id),
            "workers": selectors.workers(),
            "pools": metrics.pools_by_process(),
            "alerts": selectors.alerts(),
            "partitions": check_health(),
        }

    def trends(self, window: str, queue: str, tenant_id: int | None) -> dict[str, Any]:
        found = rollups.trends(window=window, queue=queue or None, tenant_id=tenant_id)
        series, span = found["series"], _span(window)
        found["charts"] = [
            charts.Chart("backlog", "Backlog (due jobs)", series["backlog"], unit="", span=span),
            charts.Chart("throughput", "Throughput", series["throughput"], unit="/min", span=span),
            charts.Chart("failure-rate", "Failure rate", series["failure_rate"], unit="%", span=span),
            charts.Chart("wait-p95", "Wait p95", series["wait_p95"], unit="ms", span=span),
            charts.Chart("run-p95", "Run p95", series["run_p95"], unit="ms", span=span),
        ]
        found["windows"] = list(rollups.WINDOWS)
        found["queue"] = queue
        found["queues"] = list(policy.QUEUES)
        return found

    def idempotency(self, window: str, tenant_id: int | None) -> dict[str, Any]:
        found = idempotency_stats.trends(window=window, tenant_id=tenant_id)
        series, span = found["series"], _span(window)
        found["charts"] = [
            charts.Chart("keyed", "Keyed requests", series["keyed"], unit="/min", span=span),
            charts.Chart("replays", "Replays", series["replays"], unit="/min", span=span),
            charts.Chart("conflicts", "422 conflicts", series["conflicts"], unit="/min", span=span),
            charts.Chart("in-flight", "409 in flight", series["in_flight"], unit="/min", span=span),
        ]
        return found

    def build_action(self, request: HttpRequest, name: str) -> actions.OperatorActionBase:
        data = request.POST
        builders: dict[str, Callable[[], actions.OperatorActionBase]] = {
            "run_now": lambda: actions.RunNow(
                job_type=data.get("job_type", ""),
                tenant=data.get("tenant") or None,
                max_jobs=_int(data.get("max_jobs"), 10),
            ),
            "pause": lambda: actions.PauseJobs(
                kind=data.get("kind", ""), target=data.get("target", ""), reason=data.get("reason", "")
            ),
            "resume": lambda: actions.ResumeJobs(kind=data.get("kind", ""), target=data.get("target", "")),
            "replay": lambda: actions.ReplayDeadLetters(
                dead_letter_ids=[_int(value, 0) for value in data.getlist("dead_letter")]
            ),
            "retry": lambda: actions.RetryJob(job_id=_int(data.get("job_id"), 0)),
            "cancel": lambda: actions.CancelJob(job_id=_int(data.get("job_id"), 0)),
            "discard": lambda: actions.DiscardJob(job_id=_int(data.get("job_id"), 0)),
            "acknowledge": lambda: actions.AcknowledgeAlert(alert_id=_int(data.get("alert_id"), 0)),
            "snooze": lambda: actions.SnoozeAlert(
                alert_id=_int(data.get("alert_id"), 0), minutes=_int(data.get("minutes"), 60)
            ),
            "resolve": lambda: actions.ResolveAlert(alert_id=_int(data.get("alert_id"), 0)),
            "quiet_worker": lambda: actions.QuietWorker(worker_name=data.get("worker", "")),
            "stop_worker": lambda: actions.StopWorker(worker_name=data.get("worker", "")),
        }
        if name not in builders:
            raise actions.ActionRefused(f"Unknown action {name!r}.")
        return builders[name]()


class UploadsConsoleAdmin(ConsoleAdmin):
    template = "admin/ops/uploads.html"
    operate_permission = actions.OPERATE_UPLOADS

    def page_context(self, request: HttpRequest, tenant_id: int | None) -> dict[str, Any]:
        return {
            "intents": selectors.intents_by_tenant(tenant_id=tenant_id),
            "stuck": selectors.stuck_intents(tenant_id=tenant_id),
            "storage": selectors.storage_by_tenant(tenant_id=tenant_id),
            "runs": selectors.cleanup_runs(tenant_id=tenant_id),
            "cleanup_types": actions.CLEANUP_TYPES,
        }

    def build_action(self, request: HttpRequest, name: str) -> actions.OperatorActionBase:
        if name not in ("cleanup", "cleanup_now"):
            raise actions.ActionRefused(f"Unknown action {name!r}.")
        return actions.EnqueueCleanup(
            tenant=request.POST.get("tenant", ""),
            job_type=request.POST.get("job_type", actions.CLEANUP_TYPES[0]),
            run_now=name == "cleanup_now",
        )


class GovernanceConsoleAdmin(ConsoleAdmin):
    """The weekly data-governance report (lifecycle.governance), for `?days=N` (1 to 366, default 7)."""

    template = "admin/ops/governance.html"

    def page_context(self, request: HttpRequest, tenant_id: int | None) -> dict[str, Any]:
        days = _int(request.GET.get("days"), 7)
        if not 1 <= days <= 366:
            raise actions.ActionRefused(f"days must be between 1 and 366, not {days}.")
        return {
            "report": governance_report(days=days),
            "days": days,
            "preflight": selectors.preflight_results(),
            "shares": _shares(ops_metrics.SHARE_GAUGES.shares()),
        }

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)
        except actions.ActionRefused as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain")


def _shares(shares: metrics.Shares) -> dict[str, Any]:
    """The last hour's 429 and transport-error shares, as the governance page shows them (percentages)."""
    return {
        "minutes": round(shares.window_seconds / 60),
        "http_429": int(shares.http_429),
        "responses": int(shares.responses),
        "http_429_percent": round(100 * shares.http_429_ratio, 1),
        "channels": [
            {
                "channel": channel,
                "errors": int(shares.transport_errors[channel]),
                "attempts": int(shares.deliveries[channel]),
                "percent": round(100 * shares.transport_error_ratio(channel), 1),
            }
            for channel in metrics.DELIVERY_CHANNELS
        ],
    }


def _when(value: str | None) -> Any:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise actions.ActionRefused(f"Not a date and time: {value!r} (e.g. 2026-01-31T12:00).")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class JobsConsoleAdmin(ConsoleAdmin):
    """The jobs browser: filters over jobs, and one job's attempts, checkpoints and event chain."""

    template = "admin/ops/jobs.html"
    operate_permission = actions.OPERATE_QUEUE

    def template_for(self, request: HttpRequest) -> str:
        if request.GET.get("chains"):
            return "admin/ops/slow_chains.html"
        return "admin/ops/bulk.html" if request.GET.get("bulk") else self.template

    def page_context(self, request: HttpRequest, tenant_id: int | None) -> dict[str, Any]:
        from ballast.jobs.registry import registered_types
        from ballast.jobs.states import JobStatus

        query = request.GET
        if query.get("chains"):
            return self.slow_chains(query["chains"], tenant_id)
        if query.get("bulk"):
            found = selectors.bulk_operation(_int(query.get("bulk"), 0))
            if found is None:
                raise actions.ActionRefused(f"There is no bulk operation {query.get('bulk')}.")
            return {"bulk": found["operation"], "bulk_view": found}
        if query.get("job"):
            detail = selectors.job_detail(_int(query.get("job"), 0))
            if detail is None:
                raise actions.ActionRefused(f"There is no job {query.get('job')}.")
            return {"detail": detail}
        where = self.job_filter(query, tenant_id)
        rows = selectors.jobs(where, before=_int(query.get("before"), 0) or None)
        following = query.copy()
        if rows:
            following["before"] = str(rows[-1]["id"])
        return {
            "rows": rows,
            "statuses": JobStatus.values,
            "queues": list(policy.QUEUES),
            "job_types": registered_types(),
            "next_query": following.urlencode() if len(rows) == 50 else "",
        }

    def slow_chains(self, window: str, tenant_id: int | None) -> dict[str, Any]:
        if window not in rollups.WINDOWS:
            raise actions.ActionRefused(f"Unknown window {window!r}; one of {', '.join(rollups.WINDOWS)}.")
        return {
            "chains": selectors.slow_chains(window=window, tenant_id=tenant_id),
            "window": window,
            "windows": list(rollups.WINDOWS),
        }

    def job_filter(self, data: Any, tenant_id: int | None) -> JobFilter:
        from ballast.jobs.states import JobStatus

        return JobFilter(
            tenant_id=tenant_id,
            job_type=data.get("job_type", ""),
            status=_choice(data, "status", JobStatus.values),
            queue=_choice(data, "queue", policy.QUEUES),
            since=_when(data.get("since")),
            until=_when(data.get("until")),
            payload_text=data.get("payload", "")[:200],
            error_text=data.get("error", "")[:200],
        )

    def redirect_for(self, request: HttpRequest, outcome: actions.Outcome) -> str | None:
        return f"{request.path}?bulk={outcome.data['bulk_id']}" if "bulk_id" in outcome.data else None

    def build_action(self, request: HttpRequest, name: str) -> actions.OperatorActionBase:
        job_id = _int(request.POST.get("job_id"), 0)
        if name == "bulk_preview":
            tenant_id = actions.tenant_id_of(request.POST.get("tenant") or None)
            where = self.job_filter(request.POST, tenant_id)
            return actions.PreviewBulk(action=request.POST.get("bulk_action", ""), where=where)
        if name == "bulk_confirm":
            return actions.ConfirmBulk(bulk_id=_int(request.POST.get("bulk_id"), 0))
        builders: dict[str, Callable[[], actions.OperatorActionBase]] = {
            "retry": lambda: actions.RetryJob(job_id=job_id),
            "cancel": lambda: actions.CancelJob(job_id=job_id),
            "discard": lambda: actions.DiscardJob(job_id=job_id),
        }
        if name not in builders:
            raise actions.ActionRefused(f"Unknown action {name!r}.")
        return builders[name]()

    def _back(self, request: HttpRequest, status: int = 302) -> HttpResponse:
        if status == 302:  # back to the job, the list's filters kept for the way back
            query = request.GET.copy()
            query["job"] = str(_int(request.POST.get("job_id"), 0))
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        return super()._back(request, status)


class SchedulesConsoleAdmin(ConsoleAdmin):
    """Every cron schedule with its next and last run; run now, pause and resume (ballast.jobs.schedules, through
    ops.actions); `?schedule=<id>` adds that schedule's last runs."""

    template = "admin/ops/schedules.html"
    operate_permission = actions.OPERATE_QUEUE

    def page_context(self, request: HttpRequest, tenant_id: int | None) -> dict[str, Any]:
        context: dict[str, Any] = {
            "rows": selectors.schedules(tenant_id=tenant_id),
            "job_types": registry.registered_types(),
            "missed_policies": schedules.MISSED,
        }
        chosen = request.GET.get("schedule")
        if chosen:
            history = selectors.schedule_runs(int(chosen)) if chosen.isdigit() else None
            if history is None:
                messages.error(request, f"There is no schedule {chosen}.")
            context["history"] = history
        return context

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        if request.method == "GET" and "history" in context and context["history"] is None:
            response.status_code = 404
        return response

    def build_action(self, request: HttpRequest, name: str) -> actions.OperatorActionBase:
        builders: dict[str, type[actions.ScheduleAction]] = {
            "run_now": actions.RunScheduleNow,
            "pause": actions.PauseSchedule,
            "resume": actions.ResumeSchedule,
        }
        if name == "create":
            form = request.POST
            return actions.CreateSchedule(
                tenant=form.get("tenant", "").strip(),
                schedule_name=form.get("name", "").strip(),
                job_type=form.get("job_type", "").strip(),
                expression=form.get("cron", "").strip(),
                timezone=form.get("timezone", "").strip() or "UTC",
                payload=form.get("payload", "").strip() or "{}",
                missed=form.get("missed", "skip"),
            )
        if name not in builders:
            raise actions.ActionRefused(f"Unknown action {name!r}.")
        return builders[name](schedule_id=_int(request.POST.get("schedule_id"), 0))

    def _back(self, request: HttpRequest, status: int = 302) -> HttpResponse:
        if status != 302:
            return super()._back(request, status)
        query = {"tenant": request.POST.get("filter_tenant", ""), "schedule": request.POST.get("show", "")}
        encoded = urlencode({key: value for key, value in query.items() if value})
        return HttpResponseRedirect(request.path + (f"?{encoded}" if encoded else ""))


class BatchesConsoleAdmin(ConsoleAdmin):
    """The newest batches with their members per status, progress and callbacks; `?state=running|finished`;
    `?batch=<id>` adds that batch's members; cancel (ballast.jobs.batches, through ops.actions)."""

    template = "admin/ops/batches.html"
    operate_permission = actions.OPERATE_QUEUE

    def page_context(self, request: HttpRequest, tenant_id: int | None) -> dict[str, Any]:
        state = request.GET.get("state", "")
        if state and state not in selectors.BATCH_STATES:
            raise actions.ActionRefused(f"Unknown state {state!r}; one of {', '.join(selectors.BATCH_STATES)}.")
        context: dict[str, Any] = {
            "rows": selectors.batches(tenant_id=tenant_id, state=state),
            "states": selectors.BATCH_STATES,
        }
        chosen = request.GET.get("batch")
        if chosen:
            detail = selectors.batch_members(int(chosen)) if chosen.isdigit() else None
            if detail is None:
                raise actions.ActionRefused(f"There is no batch {chosen}.")
            context["detail"] = detail
        return context

    def build_action(self, request: HttpRequest, name: str) -> actions.OperatorActionBase:
        if name != "cancel":
            raise actions.ActionRefused(f"Unknown action {name!r}.")
        return actions.CancelBatch(batch_id=_int(request.POST.get("batch_id"), 0))

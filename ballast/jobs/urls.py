from django.urls import path

from ballast.jobs import batch_views, views

urlpatterns = [
    path("jobs", views.JobListCreateView.as_view(), name="job-list"),
    path("jobs/<int:job_id>", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel", views.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<int:job_id>/retry", views.JobRetryView.as_view(), name="job-retry"),
    path("dead-letters", views.DeadLetterListView.as_view(), name="dead-letter-list"),
    path("dead-letters/<int:dead_letter_id>/replay", views.DeadLetterReplayView.as_view(), name="dead-letter-replay"),
    path("schedules", views.ScheduleListCreateView.as_view(), name="schedule-list"),
    path("schedules/<int:schedule_id>", views.ScheduleDetailView.as_view(), name="schedule-detail"),
    path("schedules/<int:schedule_id>/pause", views.SchedulePauseView.as_view(), name="schedule-pause"),
    path("schedules/<int:schedule_id>/resume", views.ScheduleResumeView.as_view(), name="schedule-resume"),
    path("schedules/<int:schedule_id>/run", views.ScheduleRunView.as_view(), name="schedule-run"),
    path("batches/<int:batch_id>", batch_views.BatchDetailView.as_view(), name="batch-detail"),
    path("batches/<int:batch_id>/cancel", batch_views.BatchCancelView.as_view(), name="batch-cancel"),
    path("queue/process", views.QueueProcessView.as_view(), name="queue-process"),
]

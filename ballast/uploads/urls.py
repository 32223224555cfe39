from django.urls import path

from ballast.uploads import views

urlpatterns = [
    path("uploads", views.UploadListCreateView.as_view(), name="upload-list"),
    path("uploads/cleanup-runs", views.CleanupRunListView.as_view(), name="upload-cleanup-runs"),
    path("uploads/<int:intent_id>", views.UploadDetailView.as_view(), name="upload-detail"),
    path("uploads/<int:intent_id>/content", views.UploadContentView.as_view(), name="upload-content"),
    path("uploads/<int:intent_id>/finalize", views.UploadFinalizeView.as_view(), name="upload-finalize"),
    path("documents", views.DocumentListView.as_view(), name="document-list"),
    path("documents/<int:document_id>", views.DocumentDetailView.as_view(), name="document-detail"),
    path("documents/<int:document_id>/restore", views.DocumentRestoreView.as_view(), name="document-restore"),
    path("documents/<int:document_id>/purge", views.DocumentPurgeView.as_view(), name="document-purge"),
    path("trash", views.TrashListView.as_view(), name="trash-list"),
    # The local backend's storage endpoints (signed; no API token). With UPLOADS_BACKEND=s3 they answer 404.
    path("storage/direct", views.LocalDirectPostView.as_view(), name="uploads-direct-post"),
    path("storage/download/<str:token>", views.LocalDownloadView.as_view(), name="uploads-local-download"),
]

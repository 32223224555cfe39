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
    # Signed, no API token. The direct POST is the local backend's (with UPLOADS_BACKEND=s3 it answers 404);
    # download links are the app's for both backends (uploads.links).
    path("storage/direct", views.LocalDirectPostView.as_view(), name="uploads-direct-post"),
    path("storage/download/<str:token>", views.DownloadView.as_view(), name="uploads-download"),
]

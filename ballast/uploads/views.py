from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ballast.api.pagination import PageQuery, page_of, paginated
from ballast.api.permissions import IsTenantManager
from ballast.api.problem_details import json_problem_response
from ballast.api.views import ApiRequestMixin, TenantAPIView, credential
from ballast.tenants.audit import actor_for_user
from ballast.uploads import links, selectors, services
from ballast.uploads.errors import InvalidUpload, UploadError
from ballast.uploads.models import Document, UploadIntent
from ballast.uploads.serializers import (
    CleanupRunSerializer,
    DocumentDetailSerializer,
    DocumentSerializer,
    FinalizedSerializer,
    UploadCreatedSerializer,
    UploadCreateSerializer,
    UploadIntentSerializer,
)
from ballast.uploads.storage import get_storage
from ballast.uploads.storage.base import ObjectMissing, StorageError
from ballast.uploads.storage.local import LocalStorage, Refused

PROBLEM_RESPONSES = {
    400: OpenApiResponse(description="A declared field does not fit (`invalid`, by field) or the body is not JSON."),
    404: OpenApiResponse(description="The tenant has no such upload (`not-found`)."),
    409: OpenApiResponse(description="The upload is not in a state that allows this (`not-uploaded`, `conflict`)."),
    410: OpenApiResponse(description="The upload intent has expired (`upload-expired`)."),
    413: OpenApiResponse(
        description="Over UPLOAD_MAX_BYTES (`upload-too-large`), the tenant's quota (`quota-exceeded`) or the body "
        "limit (`request-too-large`)."
    ),
    415: OpenApiResponse(description="A content type not in UPLOAD_ALLOWED_TYPES (`type-not-allowed`)."),
}


class UploadListQuery(PageQuery):
    status = serializers.ChoiceField(
        choices=UploadIntent.Status.choices, required=False, help_text="Only uploads in this status."
    )


class DocumentListQuery(PageQuery):
    status = serializers.ChoiceField(
        choices=Document.Status.choices, default=Document.Status.ACTIVE, help_text="Only documents in this status."
    )


def refused(exc: UploadError) -> exceptions.APIException:
    """The API's answer to a refused upload operation (problem details with the error's status and code)."""
    if isinstance(exc, InvalidUpload) and exc.field:
        return exceptions.ValidationError({exc.field: [str(exc)]})
    error = exceptions.APIException(detail=str(exc), code=exc.code)
    error.status_code = exc.status
    return error


def _content_length(request: HttpRequest) -> int | None:
    value = request.META.get("CONTENT_LENGTH") or ""
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


class OutsideTransactionView(ApiRequestMixin, APIView):
    """Authenticated and permission-checked as every tenant API view, but the handler runs outside any
    transaction: it streams a body or waits on storage, which must not hold a transaction (and a pooled
    connection) open. Its services open short tenant scopes themselves.

    No Idempotency-Key layer here: it would read the whole body to fingerprint it. Both handlers are safe to
    repeat by themselves (the relay rewrites the same object; finalize answers 200 with the same document).
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        credential(request)


class UploadListCreateView(TenantAPIView):
    """Uploads go straight to storage under a signed POST policy (`direct`), or through the app (`relay`),
    then `finalize` verifies what storage holds and creates the document."""

    query_serializers = {"get": UploadListQuery}

    @extend_schema(
        responses=page_of(UploadIntentSerializer),
        summary="The tenant's upload intents, newest first (cursor pagination)",
    )
    def get(self, request: Request) -> Response:
        intents = selectors.intents(status=self.query.get("status"))
        return paginated(
            request, self, intents, lambda page: UploadIntentSerializer(page, many=True).data, UploadListQuery
        )

    @extend_schema(
        request=UploadCreateSerializer,
        responses={201: UploadCreatedSerializer, **PROBLEM_RESPONSES},
        summary="Declare an upload: a signed direct-upload target (unless mode=relay) and the relay URL",
    )
    def post(self, request: Request) -> Response:
        params = UploadCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            created = services.create_intent(
                tenant_id=credential(request).tenant_id, actor=actor_for_user(request.user), **params.validated_data
            )
        except UploadError as exc:
            raise refused(exc) from None
        intent = created.intent
        direct = None
        if created.direct is not None:
            direct = {
                "url": request.build_absolute_uri(created.direct.url),
                "method": "POST",
                "fields": created.direct.fields,
            }
        body = {
            "id": intent.pk,
            "mode": intent.kind,
            "status": intent.status,
            "expires_at": intent.expires_at,
            "direct": direct,
            "relay": {"url": request.build_absolute_uri(reverse("upload-content", args=[intent.pk])), "method": "PUT"},
            "finalize": {
                "url": request.build_absolute_uri(reverse("upload-finalize", args=[intent.pk])),
                "method": "POST",
            },
        }
        return Response(UploadCreatedSerializer(body).data, status=status.HTTP_201_CREATED)


class UploadDetailView(TenantAPIView):
    @extend_schema(responses=UploadIntentSerializer, summary="One upload intent")
    def get(self, request: Request, intent_id: int) -> Response:
        """One of the tenant's upload intents: its declaration, status and expiry."""
        intent = selectors.intent_or_none(intent_id)
        if intent is None:
            raise exceptions.NotFound(f"No upload {intent_id}.")
        return Response(UploadIntentSerializer(intent).data)


class UploadContentView(OutsideTransactionView):
    """The relay, for clients that cannot reach storage directly. `Content-Length` is required and must equal
    the declared size, `Content-Type` the declared type; the body is streamed to storage in chunks and a body
    that ends early leaves nothing behind. Safe to repeat until finalized (Idempotency-Key is not used here)."""

    streams_body = True  # bounded by the declared size, not by API_MAX_BODY_BYTES

    @extend_schema(
        request={"application/octet-stream": {"type": "string", "format": "binary"}},
        responses={
            200: UploadIntentSerializer,
            411: OpenApiResponse(description="No Content-Length (`length-required`)."),
            422: OpenApiResponse(description="The bytes do not match the declared SHA-256 (`checksum-mismatch`)."),
            **PROBLEM_RESPONSES,
        },
        summary="The relay: stream the file's bytes (exactly the declared size and type) to storage",
    )
    def put(self, request: Request, intent_id: int) -> Response:
        try:
            intent = services.receive_relay(
                tenant_id=credential(request).tenant_id,
                intent_id=intent_id,
                stream=request._request,
                content_length=_content_length(request._request),
                content_type=request.META.get("CONTENT_TYPE", ""),
                actor=actor_for_user(request.user),
            )
        except UploadError as exc:
            raise refused(exc) from None
        return Response(UploadIntentSerializer(intent).data)


class UploadFinalizeView(OutsideTransactionView):
    """Checks what storage holds against the declaration (existence, size, type, first bytes, checksum), moves
    it under docs/ and creates the document (`document.created`). 409 before the upload, 410 after expiry,
    422 when the bytes contradict the declaration. Idempotent by itself: a repeat answers 200."""

    @extend_schema(
        request=None,
        responses={
            201: FinalizedSerializer,
            200: FinalizedSerializer,
            **PROBLEM_RESPONSES,
            422: OpenApiResponse(description="What storage holds contradicts the declaration (`verification-failed`)."),
        },
        summary="Verify the uploaded object and create its document (201; a repeat answers 200 with the same one)",
    )
    def post(self, request: Request, intent_id: int) -> Response:
        try:
            result = services.finalize(
                tenant_id=credential(request).tenant_id, intent_id=intent_id, actor=actor_for_user(request.user)
            )
        except UploadError as exc:
            raise refused(exc) from None
        body = {"document": _document_detail(request, result.document)}
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


def _document_detail(request: Request, document: Document) -> dict[str, Any]:
    url = None
    if document.status == Document.Status.ACTIVE:
        url = request.build_absolute_uri(links.path_for(document, expires_in=settings.UPLOAD_DOWNLOAD_URL_SECONDS))
    return dict(DocumentDetailSerializer(document, context={"download_url": url}).data)


def _document(document_id: int) -> Document:
    document = selectors.document_or_none(document_id)
    if document is None:
        raise exceptions.NotFound(f"No document {document_id}.")
    return document


class DocumentListView(TenantAPIView):
    query_serializers = {"get": DocumentListQuery}

    @extend_schema(
        responses=page_of(DocumentSerializer),
        summary="The tenant's documents, newest first (cursor pagination)",
    )
    def get(self, request: Request) -> Response:
        """The tenant's documents in one status (default: active), newest first."""
        documents = selectors.documents(status=self.query["status"])
        return paginated(
            request, self, documents, lambda page: DocumentSerializer(page, many=True).data, DocumentListQuery
        )


class TrashListView(TenantAPIView):
    query_serializers = {"get": PageQuery}

    @extend_schema(
        responses=page_of(DocumentSerializer),
        summary="Documents in the trash, newest first; purged for good after TRASH_RETENTION_DAYS",
    )
    def get(self, request: Request) -> Response:
        """Trashed documents, newest first: restore one before TRASH_RETENTION_DAYS pass."""
        documents = selectors.documents(status=Document.Status.TRASHED)
        return paginated(request, self, documents, lambda page: DocumentSerializer(page, many=True).data)


class DocumentDetailView(TenantAPIView):
    @extend_schema(responses=DocumentDetailSerializer, summary="One document, with a short-lived download URL")
    def get(self, request: Request, document_id: int) -> Response:
        """One of the tenant's documents; an active one carries a download URL valid for
        UPLOAD_DOWNLOAD_URL_SECONDS."""
        return Response(_document_detail(request, _document(document_id)))

    @extend_schema(
        responses={
            200: DocumentSerializer,
            409: OpenApiResponse(description="The document is not active (`conflict`)."),
        },
        summary="Move a document to the trash (document.trashed); restore it within the retention period",
    )
    def delete(self, request: Request, document_id: int) -> Response:
        """Moves an active document to the trash and answers it; its file stays until purged."""
        try:
            document = services.trash_document(document=_document(document_id), actor=actor_for_user(request.user))
        except UploadError as exc:
            raise refused(exc) from None
        return Response(DocumentSerializer(document).data)


class DocumentRestoreView(TenantAPIView):
    @extend_schema(
        request=None,
        responses={
            200: DocumentSerializer,
            409: OpenApiResponse(description="The document is not in the trash (`conflict`)."),
        },
        summary="Take a document out of the trash (document.restored)",
    )
    def post(self, request: Request, document_id: int) -> Response:
        """Makes a trashed document active again and answers it."""
        try:
            document = services.restore_document(document=_document(document_id), actor=actor_for_user(request.user))
        except UploadError as exc:
            raise refused(exc) from None
        return Response(DocumentSerializer(document).data)


class DocumentPurgeView(TenantAPIView):
    permission_classes = [IsTenantManager]

    @extend_schema(
        request=None,
        responses=DocumentSerializer,
        summary="Delete the document's file for good (admins); its row stays as a tombstone (document.purged)",
    )
    def post(self, request: Request, document_id: int) -> Response:
        """Deletes the document's file from storage (owners and admins); the document stays, purged."""
        document = services.purge_document(document=_document(document_id), actor=actor_for_user(request.user))
        return Response(DocumentSerializer(document).data)


class CleanupRunListView(TenantAPIView):
    permission_classes = [IsTenantManager]

    query_serializers = {"get": PageQuery}

    @extend_schema(
        responses=page_of(CleanupRunSerializer),
        summary="What the cleanup passes did (counts, bytes freed, errors), newest first (admins)",
    )
    def get(self, request: Request) -> Response:
        """Each pass of the uploads cleanup (expired intents, orphans in storage) for the tenant, newest first."""
        runs = selectors.cleanup_runs()
        return paginated(request, self, runs, lambda page: CleanupRunSerializer(page, many=True).data)


def _local_storage() -> LocalStorage:
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        raise Http404("Direct uploads and downloads go to object storage, not to this server.")
    return storage


@method_decorator(csrf_exempt, name="dispatch")
class LocalDirectPostView(View):
    """The local backend's stand-in for S3's POST endpoint: the same form, checked against the app-signed
    policy in its fields (no API token: the signature is the credential). 204 when stored."""

    def post(self, request: HttpRequest) -> HttpResponse:
        storage = _local_storage()
        try:
            storage.receive_post(
                stream=request,
                content_type=request.META.get("CONTENT_TYPE", ""),
                content_length=_content_length(request),
                now=timezone.now(),
                accepts=services.direct_upload_open,
            )
        except Refused as exc:
            return json_problem_response(exc.status, str(exc), code=exc.code)
        return HttpResponse(status=204)


class DownloadView(View):
    """A download link (uploads.links): checked at every use, so it stops as soon as the document leaves
    `active`. Local disk: the file as an attachment; S3: a redirect to a presigned GET made now and valid for
    UPLOAD_DOWNLOAD_REDIRECT_SECONDS."""

    def get(self, request: HttpRequest, token: str) -> HttpResponseBase:
        try:
            document = links.resolve(token)
        except links.LinkRefused as exc:
            return json_problem_response(
                exc.status, str(exc), code="AccessDenied" if exc.status == 403 else "NoSuchKey"
            )
        storage = get_storage()
        redirect = storage.download_url(
            key=document.storage_key,
            filename=document.name,
            content_type=document.content_type,
            expires_in=settings.UPLOAD_DOWNLOAD_REDIRECT_SECONDS,
        )
        if redirect is not None:
            response: HttpResponseBase = HttpResponseRedirect(redirect)
        else:
            assert isinstance(storage, LocalStorage)
            try:
                file = storage.open(document.storage_key)
            except (ObjectMissing, StorageError):
                return json_problem_response(404, "The document's file is gone.", code="NoSuchKey")
            response = FileResponse(
                file, as_attachment=True, filename=document.name, content_type=document.content_type
            )
            response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        response["Referrer-Policy"] = "no-referrer"
        return response


class DemoPageView(TemplateView):
    """dev/ci only: upload through the browser client, then download, trash, restore and purge."""

    template_name = "uploads/demo.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.UPLOADS_DEMO_PAGE:
            raise Http404("The uploads demo page exists in dev and ci only.")
        return super().get(request, *args, **kwargs)

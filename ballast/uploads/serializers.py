from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from ballast.api.serializers import StrictSerializer
from ballast.uploads.models import CleanupRun, Document, UploadIntent
from ballast.uploads.services import MODES
from ballast.uploads.verification import BIDI_CONTROLS, MAX_NAME_CHARS, media_type

# What clean_filename accepts: not blank, not '.' or '..', no control or bidirectional character, no path.
_REFUSED_IN_NAMES = r"\x00-\x1f\x7f-\x9f/\\" + "".join(f"\\u{ord(char):04x}" for char in sorted(BIDI_CONTROLS))
FILENAME_PATTERN = rf"^(?!\s*$)(?!\s*\.{{1,2}}\s*$)[^{_REFUSED_IN_NAMES}]+$"


class UploadCreateSerializer(StrictSerializer):
    # Names and types are checked by the service (uploads.verification), which says precisely what is wrong.
    filename = serializers.CharField(max_length=4096, trim_whitespace=False)
    content_type = serializers.CharField(max_length=255)
    size = serializers.IntegerField(min_value=0)
    sha256 = serializers.CharField(required=False, allow_blank=True, max_length=128, help_text="hex SHA-256")
    mode = serializers.ChoiceField(choices=list(MODES), default="auto")


class UploadCreateSchema(OpenApiSerializerExtension):
    """The declaration's limits, read at schema time from the settings (allowed types, the size limit)."""

    target_class = UploadCreateSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        properties = schema["properties"]
        properties["filename"].update(minLength=1, maxLength=MAX_NAME_CHARS, pattern=FILENAME_PATTERN)
        properties["content_type"] = {
            "type": "string",
            "enum": sorted({media_type(kind) for kind in settings.UPLOAD_ALLOWED_TYPES}),
            "description": "One of UPLOAD_ALLOWED_TYPES.",
        }
        properties["size"]["maximum"] = settings.UPLOAD_MAX_BYTES
        properties["sha256"] = {**properties["sha256"], "pattern": "^([0-9a-fA-F]{64})?$"}
        properties["sha256"].pop("maxLength", None)
        return schema


class DirectTargetSerializer(serializers.Serializer[Any]):
    url = serializers.CharField()
    method = serializers.CharField(default="POST")

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # A field named "fields" cannot be a class attribute: it would hide Serializer.fields.
        declared = super().get_fields()
        declared["fields"] = serializers.DictField(
            child=serializers.CharField(), help_text="Send these form fields in order, then the file as `file`."
        )
        return declared


class RelayTargetSerializer(serializers.Serializer[Any]):
    url = serializers.CharField()
    method = serializers.CharField(default="PUT")


class UploadCreatedSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=UploadIntent.Kind.choices)
    status = serializers.CharField()
    expires_at = serializers.DateTimeField()
    direct = DirectTargetSerializer(allow_null=True)
    relay = RelayTargetSerializer()
    finalize = RelayTargetSerializer(help_text="POST here once the bytes are uploaded.")


class UploadIntentSerializer(serializers.ModelSerializer[UploadIntent]):
    class Meta:
        model = UploadIntent
        fields = [
            "id",
            "kind",
            "filename",
            "content_type",
            "size",
            "sha256",
            "status",
            "expires_at",
            "document",
            "last_error",
            "created_at",
            "uploaded_at",
            "finalized_at",
            "cleaned_at",
        ]
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer[Document]):
    class Meta:
        model = Document
        fields = [
            "id",
            "name",
            "content_type",
            "size",
            "sha256",
            "status",
            "created_by",
            "correlation_id",
            "created_at",
            "trashed_at",
            "purged_at",
        ]
        read_only_fields = fields


class DocumentDetailSerializer(DocumentSerializer):
    download_url = serializers.SerializerMethodField(help_text="Short-lived; null unless the document is active.")

    class Meta(DocumentSerializer.Meta):
        fields = [*DocumentSerializer.Meta.fields, "download_url"]
        read_only_fields = fields

    def get_download_url(self, document: Document) -> str | None:
        url: str | None = self.context.get("download_url")
        return url


class FinalizedSerializer(serializers.Serializer[Any]):
    document = DocumentDetailSerializer()


class CleanupRunSerializer(serializers.ModelSerializer[CleanupRun]):
    class Meta:
        model = CleanupRun
        fields = [
            "id",
            "kind",
            "trigger",
            "job_id",
            "dry_run",
            "intents_cleaned",
            "orphans_deleted",
            "documents_purged",
            "objects_deleted",
            "bytes_freed",
            "errors",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

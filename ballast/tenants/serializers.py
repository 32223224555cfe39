from __future__ import annotations

from rest_framework import serializers

from ballast.tenants.models import ApiToken, Tenant


class TenantSerializer(serializers.ModelSerializer[Tenant]):
    class Meta:
        model = Tenant
        fields = ["id", "slug", "name", "status"]


class MeSerializer(serializers.Serializer[dict[str, object]]):
    user = serializers.DictField()
    tenant = TenantSerializer()
    role = serializers.CharField()
    token = serializers.DictField()


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    prefix = serializers.CharField(source="display_prefix", read_only=True)
    username = serializers.CharField(source="membership.user.get_username", read_only=True)
    role = serializers.CharField(source="membership.role", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "username", "role", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields

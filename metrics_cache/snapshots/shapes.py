"""The shape of one entry of each metric's `data` (serializers, for the OpenAPI schema)."""

from __future__ import annotations

from rest_framework import serializers


class DailyTotal(serializers.Serializer):
    date = serializers.DateField()
    total = serializers.IntegerField()


class MonthlyTotal(serializers.Serializer):
    month = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="YYYY-MM")
    total = serializers.IntegerField()


class YearlyTotal(serializers.Serializer):
    year = serializers.IntegerField()
    total = serializers.IntegerField()


class TopVisitor(serializers.Serializer):
    member_id = serializers.CharField(
        allow_null=True,
        help_text="null for non-members, and for the public unless MEMBER_DETAILS=full",
    )
    member_name = serializers.CharField(
        allow_null=True, help_text="masked ('Budi S.') or null for the public (UU PDP 2022)"
    )
    institution = serializers.CharField(allow_null=True)
    total = serializers.IntegerField()


class TopBook(serializers.Serializer):
    biblio_id = serializers.IntegerField()
    title = serializers.CharField()
    total = serializers.IntegerField()


class TopBorrower(serializers.Serializer):
    member_id = serializers.CharField(allow_null=True, help_text="null for the public")
    member_name = serializers.CharField(
        allow_null=True, help_text="null if the member row is gone; masked for the public"
    )
    total = serializers.IntegerField()


class Collection(serializers.Serializer):
    titles = serializers.IntegerField(help_text="rows of biblio")
    items = serializers.IntegerField(help_text="rows of item (copies)")

"""E-mail deliveries record their type, the object they are about and metadata (added on the partitioned parent:
every partition gets the columns and indexes)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('emails', '0002_partition_deliveries'),
        ('tenants', '0005_tenant_in_audit_key'),
    ]

    operations = [
        migrations.AddField(
            model_name='emaildelivery',
            name='email_type',
            field=models.CharField(db_default='message', default='message', max_length=100),
        ),
        migrations.AddField(
            model_name='emaildelivery',
            name='metadata',
            field=models.JSONField(blank=True, db_default=models.Value({}, output_field=models.JSONField()), default=dict),
        ),
        migrations.AddField(
            model_name='emaildelivery',
            name='related_id',
            field=models.CharField(blank=True, db_default='', default='', max_length=100),
        ),
        migrations.AddField(
            model_name='emaildelivery',
            name='related_type',
            field=models.CharField(blank=True, db_default='', default='', max_length=100),
        ),
        migrations.AddIndex(
            model_name='emaildelivery',
            index=models.Index(fields=['tenant', 'email_type', 'id'], name='emaildelivery_tenant_type'),
        ),
        migrations.AddIndex(
            model_name='emaildelivery',
            index=models.Index(condition=models.Q(('related_type', ''), _negated=True), fields=['tenant', 'related_type', 'related_id'], name='emaildelivery_related'),
        ),
    ]

"""PostgreSQL-only search indexes: pg_trgm, a trigram GIN index on search_text (substring and
similarity), a full-text GIN index built from selectors.SEARCH_VECTOR (the exact expression the
search query uses, so the planner can match them), and a trigram index on organization names.
On SQLite these operations do nothing; search falls back to plain substring matching."""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector
from django.db import migrations
from django.db.models.functions import Lower

FTS = GinIndex(SearchVector("search_text", config="simple"), name="customer_search_fts_idx")
TRGM = GinIndex(OpClass("search_text", name="gin_trgm_ops"), name="customer_search_trgm_idx")
ORG_TRGM = GinIndex(OpClass(Lower("name"), name="gin_trgm_ops"), name="organization_name_trgm_idx")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    customer = apps.get_model("customers", "Customer")
    organization = apps.get_model("customers", "Organization")
    schema_editor.add_index(customer, FTS)
    schema_editor.add_index(customer, TRGM)
    schema_editor.add_index(organization, ORG_TRGM)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    customer = apps.get_model("customers", "Customer")
    organization = apps.get_model("customers", "Organization")
    schema_editor.remove_index(customer, FTS)
    schema_editor.remove_index(customer, TRGM)
    schema_editor.remove_index(organization, ORG_TRGM)


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]

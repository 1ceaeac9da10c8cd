"""The machinery behind apps.customers.services.imports: reading CSV/XLSX files (files), the
mappable fields (fields), per-row validation (rows), fast exact phone normalization (phones) and
the batch writers for PostgreSQL and other databases (batches)."""

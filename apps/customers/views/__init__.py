"""Customer pages: customers.py (list, detail, forms, merge, GDPR) and imports.py (import/export)."""

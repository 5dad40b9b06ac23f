"""The exchange's portal: accounts and roles, the catalogue, and each role's own pages (docs/portal.md)."""

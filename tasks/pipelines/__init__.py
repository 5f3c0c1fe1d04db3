"""The server pipelines, one module each, each reading top to bottom as it runs:
`deploy`, `migrate_only`, `rollback`. `common` holds what they share."""

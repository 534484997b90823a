"""The phases of a migration, in order: each module may use the ones before it, never a later one."""

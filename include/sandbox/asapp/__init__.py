"""A local ASAPP: a deterministic dataset generator and a server for ASAPP's three export channels."""

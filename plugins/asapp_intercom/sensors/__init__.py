"""Deferrable sensors: they wait in the triggerer, holding no worker slot."""

"""Writers of what users receive: run folders (COG rasters), GeoPackages with QGIS styles, scorecards and maps."""

// Stands in for a folder whose sources are not written yet.

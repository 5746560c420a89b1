"""Japanese data: execution modes, formats, preparation, bundled samples."""

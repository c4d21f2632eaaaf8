"""A library from start-up options: the command line's, or the app's stored settings shaped
the same way (``data_dir``, ``model``, ``pretrained``, ``model_config``, ``device``,
``workers``), so both faces turn them into a model the same way."""

from __future__ import annotations

from pathlib import Path


def model_spec_from(options):
    """The ``ModelSpec`` the options ask for, or None to keep the library's saved model.
    Local files are made absolute: the catalog remembers the spec across working folders."""
    from photofind.embed.spec import ModelSpec

    if not (options.model or options.pretrained or options.model_config):
        return None
    defaults = ModelSpec()
    spec = ModelSpec(name=options.model or ("custom" if options.model_config else defaults.name),
                     pretrained=options.pretrained or (None if options.model_config
                                                       else defaults.pretrained),
                     config=str(Path(options.model_config).resolve()) if options.model_config
                     else None)
    if spec.pretrained and Path(spec.pretrained).expanduser().exists():
        spec = ModelSpec(spec.name, str(Path(spec.pretrained).expanduser().resolve()),
                         spec.config)
    return spec


def open_library(options):
    """A ``PhotoLibrary`` for the options (the library module loads only when asked for)."""
    from photofind.services.library import PhotoLibrary

    return PhotoLibrary(options.data_dir, model=model_spec_from(options), device=options.device,
                        workers=options.workers)

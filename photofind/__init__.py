"""photofind: find photos in your own library by what you remember."""

__version__ = "0.1.0"

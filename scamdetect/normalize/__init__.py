"""Text normalisation: the first step every post goes through."""

from .fold import fold_char
from .text import EMAIL_RE, HANDLE_RE, MASK_RE, URL_RE, Normalized, normalize, protected_spans, rewrite

__all__ = ["Normalized", "normalize", "fold_char", "rewrite", "protected_spans",
           "URL_RE", "EMAIL_RE", "HANDLE_RE", "MASK_RE"]
